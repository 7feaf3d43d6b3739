"""ed25519 keys: load a private key, sign a JSON payload, verify one with a public key.

Why ed25519 from `cryptography`: small keys and signatures, deterministic signing (no nonce
to get wrong), and a maintained, audited implementation already among our dependencies.
Public keys travel as `ed25519:<base64 of the 32 raw bytes>`; a key's id is
`ed25519:<first 16 hex of sha256(raw)>`.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from shipsafe.errors import UsageError
from shipsafe.records import canonical_json

KEY_PREFIX = "ed25519:"


def key_id(raw_public: bytes) -> str:
    return KEY_PREFIX + hashlib.sha256(raw_public).hexdigest()[:16]


def encode_public(raw_public: bytes) -> str:
    return KEY_PREFIX + base64.b64encode(raw_public).decode()


def decode_public(text: str) -> bytes:
    if not text.startswith(KEY_PREFIX):
        raise ValueError(f"a public key starts with {KEY_PREFIX}")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX):], validate=True)
    except ValueError as exc:
        raise ValueError("the public key is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    return raw


def load_private(path: Path) -> Any:
    """The Ed25519PrivateKey in PATH (PEM, unencrypted). UsageError (exit 2) otherwise; the
    file's content is never echoed: it is a private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such key file") from None
    except PermissionError:
        raise UsageError(f"{path}: cannot read the key file (permission denied)") from None
    except (ValueError, TypeError, OSError):
        raise UsageError(f"{path}: not an unencrypted ed25519 private key (PEM)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an ed25519 key")
    return key


def raw_public_of(private: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return raw


def sign(private: Any, payload: dict[str, Any]) -> str:
    """base64 signature over the canonical JSON of payload."""
    return base64.b64encode(private.sign(canonical_json(payload).encode())).decode()


def verifies(public_b64_raw: str, payload: Any, signature: Any) -> bool:
    """Whether `signature` (base64) is the signature of payload's canonical JSON under the
    raw public key given in base64. Malformed input is simply False."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(signature, str) or not isinstance(payload, dict):
        return False
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64_raw))
        public.verify(base64.b64decode(signature, validate=True), canonical_json(payload).encode())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
