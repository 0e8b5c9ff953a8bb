"""The log's signing key lives outside the database.

Whoever can write to the database could otherwise delete the newest certificates, or
renumber them, and sign new tree heads that `verify-log` accepts. The key is a PEM file
readable only by the service (mode 0600), by default beside a SQLite database
(`ledger.db.log-key.pem`), else `$ARDOISE_LEDGER_LOG_KEY` or DEFAULT_PATH. The database keeps
only the public key. A key found in the database of an older ledger is moved to the file on
the first start (and removed from the database).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, select, update

from appliance.certificate import key_id, load_private_pem, load_public_pem, private_pem, public_pem
from ledger import tables as t

ENV_KEY = "ARDOISE_LEDGER_LOG_KEY"
DEFAULT_PATH = Path("/var/lib/ardoise-ledger/log-key.pem")


class LogKeyError(ValueError):
    """The key file cannot be read, or holds no Ed25519 key."""


def default_path(db_url: str | None) -> Path:
    """Where `serve` and `verify-log` look for the key when --log-key is not given."""
    from ledger.db import normalise_url

    env = os.environ.get(ENV_KEY)
    if env:
        return Path(env)
    url = normalise_url(db_url)
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):].split("?", 1)[0])
        return db.with_name(db.name + ".log-key.pem")
    return DEFAULT_PATH


def read_private(path: Path) -> Ed25519PrivateKey | None:
    """The private key in `path`, None when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogKeyError(f"{path}: {exc.strerror}") from None
    try:
        return load_private_pem(data)
    except Exception:
        raise LogKeyError(f"{path}: not an Ed25519 private key in PEM") from None


def read_public(path: Path) -> Ed25519PublicKey:
    """The log's public key from a file holding the private or the public key (PEM)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LogKeyError(f"{path}: {exc.strerror}") from None
    try:
        if b"PRIVATE KEY" in data:
            return load_private_pem(data).public_key()
        return load_public_pem(data)
    except Exception:
        raise LogKeyError(f"{path}: not an Ed25519 key in PEM") from None


def write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Create the key file (0600, never overwriting one), durable before it is used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise LogKeyError(f"{path}: already exists") from None
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem(key))
        out.flush()
        os.fsync(out.fileno())
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_log_key(conn: Connection, key_file: Path | None) -> Ed25519PrivateKey:
    """The log's private key (inside the caller's transaction, which holds the log lock).

    With `key_file`: read it, or create it (from a key an older ledger kept in the database,
    else a new one); the database then keeps only public keys. Without: the key is kept in
    the database (tests and throwaway ledgers)."""
    stored = conn.execute(select(t.ledger_keys.c.private_key_pem)
                          .where(t.ledger_keys.c.private_key_pem.is_not(None))
                          .order_by(t.ledger_keys.c.created_at).limit(1)).scalar()
    if key_file is None:
        if stored is not None:
            return load_private_pem(stored.encode("ascii"))
        key = Ed25519PrivateKey.generate()
        _record(conn, key, private=True)
        return key
    found = read_private(key_file)
    if found is None:
        found = (load_private_pem(stored.encode("ascii")) if stored is not None
                 else Ed25519PrivateKey.generate())
        write_private(key_file, found)
    for row in conn.execute(select(t.ledger_keys.c.key_id, t.ledger_keys.c.private_key_pem)
                            .where(t.ledger_keys.c.public_key_pem.is_(None))).all():
        if row.private_key_pem:  # keep the public half of every key that signed heads
            old = load_private_pem(row.private_key_pem.encode("ascii")).public_key()
            conn.execute(update(t.ledger_keys).where(t.ledger_keys.c.key_id == row.key_id)
                         .values(public_key_pem=public_pem(old).decode("ascii")))
    _record(conn, found, private=False)
    conn.execute(update(t.ledger_keys).values(private_key_pem=None))
    return found


def _record(conn: Connection, key: Ed25519PrivateKey, private: bool) -> None:
    kid = key_id(key.public_key())
    values = {"public_key_pem": public_pem(key.public_key()).decode("ascii")}
    if private:
        values["private_key_pem"] = private_pem(key).decode("ascii")
    if conn.execute(update(t.ledger_keys).where(t.ledger_keys.c.key_id == kid)
                    .values(**values)).rowcount:
        return
    conn.execute(t.ledger_keys.insert().values(key_id=kid, created_at=datetime.now(UTC),
                                               **values))


def public_keys(conn: Connection) -> list[Ed25519PublicKey]:
    """Every log public key the database names (what verify-log trusts without --log-key)."""
    keys = []
    for row in conn.execute(select(t.ledger_keys.c.public_key_pem, t.ledger_keys.c.private_key_pem)
                            .order_by(t.ledger_keys.c.created_at)):
        if row.public_key_pem:
            keys.append(load_public_pem(row.public_key_pem.encode("ascii")))
        elif row.private_key_pem:
            keys.append(load_private_pem(row.private_key_pem.encode("ascii")).public_key())
    return keys


def key_in_database(conn: Connection) -> bool:
    return conn.execute(select(t.ledger_keys.c.key_id)
                        .where(t.ledger_keys.c.private_key_pem.is_not(None))).first() is not None
