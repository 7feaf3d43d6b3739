"""The policy that applies when none is given (--policy / SHIPSAFE_POLICY)."""

BUILTIN_POLICY = """\
apiVersion: shipsafe/v1
kind: Policy
environments:
  production:
    requireApproval: {count: 1, signed: true}
    requireBreakers: true
    requireBuiltinBreaker: true
    maxFirstWeight: 10
    maxWeightIncrease: 25
    requireCheckBetweenIncreases: true
    maxChainDepth: 0
    freezeAfterRollback: 15m
    rollbackWindow: 1h
    maxDuration: 24h
    emergency: {allowed: true, maxPause: 1m, approvalAfter: true}
  "*":
    maxChainDepth: 2
    rollbackWindow: 1h
    maxDuration: 24h
    emergency: {allowed: true, maxPause: 1m, approvalAfter: true}
"""
