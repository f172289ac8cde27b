"""Digest signing key loading and the pure-Python Ed25519 verifier (RFC 8032)."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import _ed25519
from audit.formats import public_key_from_pem, public_key_pem
from audit.signing import (
    SigningKeyError,
    generate_pem,
    load_signing_key,
    public_key_fingerprint,
    verify_signature,
)

# RFC 8032 section 7.1, TEST 1 and TEST 2.
RFC_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC_VECTORS)
def test_rfc8032_vectors(seed, public, message, signature):
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
    assert key.public_key().public_bytes_raw().hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    assert _ed25519.verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))
    bad = bytearray(bytes.fromhex(signature))
    bad[10] ^= 4
    assert not _ed25519.verify(bytes.fromhex(public), bytes.fromhex(message), bytes(bad))


KEYS = [Ed25519PrivateKey.generate() for _ in range(3)]


@given(st.binary(max_size=300), st.sampled_from(KEYS), st.integers(0, 63))
@settings(max_examples=25, deadline=None)
def test_pure_verifier_agrees_with_cryptography(message, key, flip):
    public = key.public_key().public_bytes_raw()
    sig = key.sign(message)
    assert _ed25519.verify(public, message, sig)
    assert verify_signature(public, message, sig)
    bad = bytearray(sig)
    bad[flip] ^= 0x80
    assert not _ed25519.verify(public, message, bytes(bad))
    assert not _ed25519.verify(public, message + b"x", sig)
    other = KEYS[(KEYS.index(key) + 1) % len(KEYS)].public_key().public_bytes_raw()
    assert not _ed25519.verify(other, message, sig)


def test_pure_verifier_rejects_malformed_inputs():
    key = KEYS[0]
    public = key.public_key().public_bytes_raw()
    sig = key.sign(b"m")
    s_plus_l = (int.from_bytes(sig[32:], "little") + _ed25519.L).to_bytes(32, "little")
    assert not _ed25519.verify(public, b"m", sig[:32] + s_plus_l)  # malleated S
    assert not _ed25519.verify(public[:31], b"m", sig)
    assert not _ed25519.verify(public, b"m", sig[:63])
    assert not _ed25519.verify(b"\xff" * 32, b"m", sig)  # y >= p: not a point


def test_key_from_inline_pem_hex_and_base64():
    pem = generate_pem()
    key = load_signing_key(environ={"AUDIT_SIGNING_KEY": pem.decode()})
    seed = key.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    from_hex = load_signing_key(environ={"AUDIT_SIGNING_KEY": seed.hex()})
    from_b64 = load_signing_key(environ={"AUDIT_SIGNING_KEY": base64.b64encode(seed).decode()})
    assert key.public_key_bytes == from_hex.public_key_bytes == from_b64.public_key_bytes
    assert key.source == "AUDIT_SIGNING_KEY" and not key.is_dev_key
    assert key.key_id == public_key_fingerprint(key.public_key_bytes)[:16]
    assert verify_signature(key.public_key_bytes, b"d", key.sign(b"d"))


def test_key_from_file(tmp_path):
    path = tmp_path / "k.pem"
    path.write_bytes(generate_pem())
    key = load_signing_key(environ={"AUDIT_SIGNING_KEY_FILE": str(path)})
    assert str(path) in key.source
    raw = tmp_path / "k.bin"
    raw.write_bytes(os.urandom(32))
    assert load_signing_key(environ={"AUDIT_SIGNING_KEY_FILE": str(raw)}).public_key_bytes


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AUDIT_SIGNING_KEY": "abc", "AUDIT_SIGNING_KEY_FILE": "/x"}, "only one"),
        ({"AUDIT_SIGNING_KEY": "not a key"}, "32-byte seed"),
        ({"AUDIT_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
         "PEM"),
        ({"AUDIT_SIGNING_KEY_FILE": "/nonexistent/key.pem"}, "cannot read"),
    ],
)
def test_bad_key_configuration_fails_loudly(environ, message):
    with pytest.raises(SigningKeyError, match=message):
        load_signing_key(environ=environ)


def test_dev_key_is_generated_once_private_and_reused(tmp_path):
    first = load_signing_key(environ={}, dev_dir=tmp_path / "var")
    second = load_signing_key(environ={}, dev_dir=tmp_path / "var")
    assert first.is_dev_key and first.public_key_bytes == second.public_key_bytes
    mode = stat.S_IMODE((tmp_path / "var" / "audit-signing-dev.pem").stat().st_mode)
    assert mode == 0o600
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["audit-signing-dev.pem"]


def test_public_key_pem_round_trip_matches_cryptography():
    key = KEYS[1]
    raw = key.public_key().public_bytes_raw()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_key_pem(raw) == pem
    assert public_key_from_pem(pem) == raw
    assert public_key_from_pem(raw.hex().encode()) == raw
    with pytest.raises(ValueError):
        public_key_from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
