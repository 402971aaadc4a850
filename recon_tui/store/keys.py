"""The store's data key: random 256 bits, kept in the OS keyring or derived from a passphrase.

Beside each database lies a small *key info* file (``<db>.keyinfo.json``). It holds no
secret: the store's id, which method keeps the key, and for the passphrase method the
scrypt salt and cost. The key itself is handed to SQLCipher as a raw key
(``PRAGMA key = "x'…'"``), which skips SQLCipher's own PBKDF2 (130 ms per connection):
the keyring already protects it, or scrypt already stretched the passphrase once.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from recon_tui.store.errors import KeyUnavailable, StoreKeyError

KEYRING_SERVICE = "recon-tui"
PASSPHRASE_ENV = "RECON_TUI_PASSPHRASE"
NEW_PASSPHRASE_ENV = "RECON_TUI_NEW_PASSPHRASE"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


def keyinfo_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".keyinfo.json")


@dataclass(slots=True)
class KeyInfo:
    """Non-secret facts about how a store's key is kept."""

    store_id: str
    method: str  # "keyring" | "passphrase"
    salt: str | None = None  # base64, passphrase method only
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def to_json(self) -> str:
        data = {"format": 1, "store_id": self.store_id, "method": self.method}
        if self.method == "passphrase":
            data.update({"kdf": "scrypt", "salt": self.salt, "n": self.n, "r": self.r, "p": self.p})
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> KeyInfo:
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(
                store_id=str(data["store_id"]),
                method=str(data["method"]),
                salt=data.get("salt"),
                n=int(data.get("n", SCRYPT_N)),
                r=int(data.get("r", SCRYPT_R)),
                p=int(data.get("p", SCRYPT_P)),
            )
        except FileNotFoundError:
            raise StoreKeyError(
                f"key info file {path} is missing; the store cannot be opened without it"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise StoreKeyError(f"key info file {path} is damaged") from None

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), "utf-8")
        os.replace(tmp, path)


def keyring_available() -> bool:
    """True when an OS keyring backend that can store secrets is configured."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:
        return False
    if isinstance(backend, fail.Keyring):
        return False
    backends = getattr(backend, "backends", None)  # ChainerBackend
    if backends is not None and not backends:
        return False
    return True


def keyring_get(username: str) -> str | None:
    import keyring

    try:
        return keyring.get_password(KEYRING_SERVICE, username)
    except Exception as exc:  # backend errors must not leak details or tracebacks
        raise KeyUnavailable(f"the OS keyring could not be read ({type(exc).__name__})") from None


def keyring_set(username: str, value: str) -> None:
    import keyring

    try:
        keyring.set_password(KEYRING_SERVICE, username, value)
    except Exception as exc:
        raise KeyUnavailable(
            f"the OS keyring could not be written ({type(exc).__name__})"
        ) from None


def keyring_delete(username: str) -> None:
    import keyring

    try:
        keyring.delete_password(KEYRING_SERVICE, username)
    except Exception:
        pass  # already gone: deleting is best effort


def new_key() -> bytes:
    return secrets.token_bytes(32)


def new_store_id() -> str:
    return str(uuid.uuid4())


def new_salt() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


def derive_key(passphrase: str, info: KeyInfo) -> bytes:
    """scrypt(passphrase, salt) -> 32 bytes; deliberately slow (~50-100 ms)."""
    if not info.salt:
        raise StoreKeyError("key info has no salt for the passphrase method")
    kdf = Scrypt(salt=base64.b64decode(info.salt), length=32, n=info.n, r=info.r, p=info.p)
    return kdf.derive(passphrase.encode("utf-8"))


def keyring_username(store_id: str) -> str:
    return f"store:{store_id}"


def ask_passphrase(prompt: str, env: str = PASSPHRASE_ENV, confirm: bool = False) -> str:
    """The passphrase from ``env`` or, on a terminal, a hidden prompt; never echoed or logged."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise KeyUnavailable(f"no passphrase: set {env} or run on a terminal")
    first = getpass.getpass(prompt)
    if not first:
        raise KeyUnavailable("empty passphrase")
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise KeyUnavailable("the two passphrases differ")
    return first


def key_pragma_value(key: bytes) -> str:
    """The SQLCipher raw-key literal; built here so the hex never lands in a log line."""
    return f"\"x'{key.hex()}'\""
