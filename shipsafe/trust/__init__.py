"""The trust root and signed evidence: what shipsafe believes, and why (see README,
Trust model). keys: ed25519; paths: StrictModes; root: the trust root; proofs: signed
deploys, data-snapshot records and pins."""
