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

# Bounds on scrypt costs read from files (key info, export bundle headers): a crafted file
# must not make us spend minutes or gigabytes (scrypt needs 128 * n * r bytes).
SCRYPT_N_RANGE = (2**10, 2**20)
SCRYPT_R_MAX = 32
SCRYPT_P_MAX = 16
SCRYPT_MAX_MEMORY = 256 * 1024 * 1024
SCRYPT_MAX_WORK = 2**24  # n * r * p: the default is 2**18


def check_scrypt(n: object, r: object, p: object, where: str) -> tuple[int, int, int]:
    """Validated scrypt (n, r, p) from a file; one-line :class:`StoreKeyError` otherwise."""
    values = (n, r, p)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise StoreKeyError(f"{where}: scrypt parameters must be whole numbers")
    n_, r_, p_ = (int(v) for v in values)  # type: ignore[call-overload]
    lo, hi = SCRYPT_N_RANGE
    if not (lo <= n_ <= hi and n_ & (n_ - 1) == 0):
        raise StoreKeyError(f"{where}: scrypt n={n_} is outside 2^10..2^20 (a power of two)")
    if not (1 <= r_ <= SCRYPT_R_MAX and 1 <= p_ <= SCRYPT_P_MAX):
        raise StoreKeyError(
            f"{where}: scrypt r={r_}, p={p_} are outside 1..{SCRYPT_R_MAX} and 1..{SCRYPT_P_MAX}"
        )
    if 128 * n_ * r_ > SCRYPT_MAX_MEMORY or n_ * r_ * p_ > SCRYPT_MAX_WORK:
        raise StoreKeyError(
            f"{where}: scrypt n={n_}, r={r_}, p={p_} would cost more than "
            f"{SCRYPT_MAX_MEMORY // 2**20} MiB or {SCRYPT_MAX_WORK:,} blocks; refused"
        )
    return n_, r_, p_


def keyinfo_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".keyinfo.json")


def keyinfo_next_path(db_path: Path) -> Path:
    """Where a rekey writes the new key info before touching any page."""
    return db_path.with_name(db_path.name + ".keyinfo.next.json")


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_synced(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically and durably, owner-only (0600)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def replace_synced(src: Path, dst: Path) -> None:
    """Rename ``src`` over ``dst`` and make it durable (the atomic switch of a rekey)."""
    os.replace(src, dst)
    fsync_dir(dst.parent)


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
            if path.stat().st_size > 64 * 1024:
                raise ValueError("too big")
            data = json.loads(path.read_text("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            info = cls(store_id=str(data["store_id"]), method=str(data["method"]))
            if info.method == "passphrase":
                salt = data.get("salt")
                if not isinstance(salt, str) or not 16 <= len(base64.b64decode(salt)) <= 64:
                    raise ValueError("bad salt")
                info.salt = salt
                info.n, info.r, info.p = check_scrypt(
                    data.get("n", SCRYPT_N), data.get("r", SCRYPT_R), data.get("p", SCRYPT_P),
                    f"key info file {path}",
                )
            return info
        except FileNotFoundError:
            raise StoreKeyError(
                f"key info file {path} is missing; the store cannot be opened without it"
            ) from None
        except (ValueError, KeyError, TypeError, OSError, RecursionError):
            raise StoreKeyError(f"key info file {path} is damaged") from None

    def save(self, path: Path) -> None:
        """Write atomically, fsync'd, 0600 (a rekey relies on it being on disk)."""
        write_synced(path, self.to_json())


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
    n, r, p = check_scrypt(info.n, info.r, info.p, "key info")
    kdf = Scrypt(salt=base64.b64decode(info.salt), length=32, n=n, r=r, p=p)
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
