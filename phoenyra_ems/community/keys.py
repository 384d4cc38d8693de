"""The ledger's Ed25519 signing key: generated on first use, private file 0600 (``cryptography``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from phoenyra_ems.atomic import write_atomically

PRIVATE_FILE = "ledger-ed25519.pem"
PUBLIC_FILE = "ledger-ed25519.pub.pem"


class KeyFileError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key (names the file)."""


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_from_hex(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomically(path, lambda out: out.write(pem), 0o600)


def load_private(key_dir: str | Path) -> Ed25519PrivateKey | None:
    path = Path(key_dir) / PRIVATE_FILE
    if not path.exists():
        return None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as err:
        raise KeyFileError(f"{path}: not a readable private key ({err})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)  # readable by others: tightened, as the history files are
    return key


def new_private(key_dir: str | Path) -> Ed25519PrivateKey:
    """A fresh key written to ``key_dir`` (private 0600, public PEM beside it), replacing any old one."""
    folder = Path(key_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    _write_private(folder / PRIVATE_FILE, key)
    (folder / PUBLIC_FILE).write_text(public_pem(key.public_key()))
    return key


def load_public(path: str | Path) -> Ed25519PublicKey:
    """A public key file: PEM (SubjectPublicKeyInfo) or the 64 hex digits of the raw key."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as err:
        raise KeyFileError(f"{file}: {err.strerror}") from None
    try:
        if data.strip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(data.decode().strip()))
    except (ValueError, UnicodeDecodeError) as err:
        raise KeyFileError(f"{file}: not a public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{file}: not an Ed25519 public key")
    return key
