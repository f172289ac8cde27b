"""Ed25519 signing of audit digests with a key kept outside the database.

Key source, in order (exactly one of the two variables may be set):

- ``AUDIT_SIGNING_KEY``: the private key itself — a PKCS#8 PEM block, or the 32-byte seed
  as 64 hex characters or base64.
- ``AUDIT_SIGNING_KEY_FILE``: a path to a file holding one of the same forms (or the raw
  32 seed bytes).
- neither: a development key generated once into ``var/audit-signing-dev.pem`` (mode 0600,
  never committed). Digests signed with it say so (``is_dev_key``), and production
  settings should refuse it.

No Django here; the settings layer passes the environment in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ENV_KEY = "AUDIT_SIGNING_KEY"
ENV_KEY_FILE = "AUDIT_SIGNING_KEY_FILE"
DEV_KEY_NAME = "audit-signing-dev.pem"


class SigningKeyError(ValueError):
    """The configured signing key is missing, ambiguous or unreadable."""


def public_key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what auditors pin and compare."""
    return hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key plus where it came from."""

    private_key: Ed25519PrivateKey
    source: str
    is_dev_key: bool = False

    @property
    def public_key_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        """Short identifier (first 16 hex of the fingerprint) stored with each signature."""
        return public_key_fingerprint(self.public_key_bytes)[:16]

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.public_key_bytes)

    def public_key_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_private_key(data: bytes, *, source: str) -> Ed25519PrivateKey:
    """Accept a PKCS#8 PEM, 32 raw bytes, 64 hex characters or base64 of 32 bytes."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{source}: not a readable unencrypted PEM key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{source}: PEM key is not an Ed25519 key")
        return key
    seed: bytes | None = None
    if len(text) == 64:
        try:
            seed = bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            seed = None
    if seed is None:
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) == 32:
            seed = decoded
    if seed is None and len(data) == 32:
        seed = data  # raw seed bytes in a key file
    if seed is None:
        raise SigningKeyError(
            f"{source}: expected an Ed25519 PEM key or a 32-byte seed (hex or base64)"
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def generate_pem() -> bytes:
    """A fresh private key as unencrypted PKCS#8 PEM (for `make` targets and tests)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_signing_key(
    *, environ: Mapping[str, str] | None = None, dev_dir: Path | str = "var"
) -> SigningKey:
    """Load the digest signing key from the environment (see module docstring)."""
    env = os.environ if environ is None else environ
    inline = env.get(ENV_KEY, "").strip()
    path = env.get(ENV_KEY_FILE, "").strip()
    if inline and path:
        raise SigningKeyError(f"set only one of {ENV_KEY} and {ENV_KEY_FILE}")
    if inline:
        return SigningKey(parse_private_key(inline.encode(), source=ENV_KEY), source=ENV_KEY)
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"{ENV_KEY_FILE}={path}: cannot read ({exc.strerror})") from None
        source = f"{ENV_KEY_FILE}={path}"
        return SigningKey(parse_private_key(data, source=source), source=source)
    dev_path = Path(dev_dir) / DEV_KEY_NAME
    if not dev_path.exists():
        dev_path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside then hard-link: two workers starting at once must end up with the
        # same complete key, never a half-written or a second one.
        tmp = dev_path.with_name(f".{DEV_KEY_NAME}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(generate_pem())
        try:
            os.link(tmp, dev_path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    data = dev_path.read_bytes()
    return SigningKey(
        parse_private_key(data, source=str(dev_path)), source=str(dev_path), is_dev_key=True
    )
