"""The ledger's records: appliances, tokens, the certificate log (with its Merkle tree), tree
heads and rack heartbeats. SQLAlchemy Core over SQLite (one writer) or PostgreSQL.

Appends are serialised by a lock in this process and, on PostgreSQL, by an advisory lock
held for the transaction, so several processes can share one database: each re-reads the
leaves it has not seen before appending.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Row, and_, func, or_, select, update
from sqlalchemy.engine import Engine

from appliance.certificate import key_id as compute_key_id
from appliance.certificate import load_canonical_public_pem, load_public_pem
from ledger import logkey
from ledger import tables as t
from ledger.db import writer
from ledger.heartbeats import MAX_CLOCK_AHEAD, StaleHeartbeat, parse_sent_at
from ledger.merkle import Tree
from ledger.treehead import LogKey, TreeHead
from ledger.validation import CertificateFacts

APPEND_LOCK_ID = 0x41524457  # PostgreSQL advisory lock shared by every ledger process
TOKEN_KINDS = ("admin", "enroll", "session")  # session: made by a web login, ends at logout
SESSION_SECONDS = 12 * 3600



class LogCorrupt(Exception):
    """The stored leaves are not a contiguous sequence (rows were deleted or renumbered)."""


class NotFound(Exception):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass
class Submission:
    """A certificate that passed the schema and signature checks, ready to append."""

    entry: bytes  # RFC 8785 bytes of the whole signed certificate
    leaf_hash: bytes
    facts: CertificateFacts


@dataclass
class Appended:
    status: int  # 201 new, 200 identical duplicate, 409 conflict, 403 key not allowed
    id: str
    leaf_index: int | None = None
    code: str = ""
    detail: str = ""


@dataclass
class Page:
    rows: list[Row[Any]]
    total: int
    page: int
    per_page: int


class Ledger:
    """The log and its indexes. `key_file`: the log's private key outside the database
    (ledger.logkey; `serve` always gives one). Without it the key is kept in the database,
    which only tests and throwaway ledgers should do."""

    def __init__(self, engine: Engine, key_file: Path | None = None, *,
                 admin_only: bool = False) -> None:
        """`admin_only`: for enrolling, revoking and tokens, which touch neither the log nor
        its key (the administrator running them may not be able to read the key file)."""
        self.engine = engine
        self.key_file = key_file
        self.writer = writer(engine)
        self.tree = Tree()
        self.lock = threading.Lock()
        self._public_keys: dict[str, Ed25519PublicKey] = {}
        self.log_key: LogKey
        if admin_only:
            return
        self.log_key = self._log_key()
        with self.lock, self.writer.begin() as conn:
            self._lock_log(conn)
            self._sync(conn)
            if conn.execute(select(func.count()).select_from(t.tree_heads)).scalar_one() == 0:
                self._store_head(conn)

    # -- the log's key and tree heads -------------------------------------------------
    def _log_key(self) -> LogKey:
        with self.writer.begin() as conn:
            self._lock_log(conn)
            return LogKey(logkey.open_log_key(conn, self.key_file))

    def _store_head(self, conn: Connection) -> TreeHead:
        head = self.log_key.sign_head(self.tree.size, self.tree.root(), int(time.time() * 1000))
        exists = conn.execute(select(t.tree_heads.c.tree_size)
                              .where(t.tree_heads.c.tree_size == head.tree_size)).first()
        if exists is None:
            conn.execute(t.tree_heads.insert().values(
                tree_size=head.tree_size, root_hash=head.root_hash, timestamp=head.timestamp,
                signature=head.signature))
        return head

    def latest_head(self) -> TreeHead:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.tree_heads).order_by(t.tree_heads.c.tree_size.desc())
                               .limit(1)).one()
        return TreeHead(row.tree_size, bytes(row.root_hash), row.timestamp, bytes(row.signature))

    def heads(self) -> list[TreeHead]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tree_heads).order_by(t.tree_heads.c.tree_size)).all()
        return [TreeHead(r.tree_size, bytes(r.root_hash), r.timestamp, bytes(r.signature))
                for r in rows]

    # -- the Merkle tree ---------------------------------------------------------------
    def _lock_log(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPEND_LOCK_ID})")

    def _sync(self, conn: Connection) -> None:
        """Append to the in-memory tree the leaves other processes stored since."""
        rows = conn.execute(select(t.certificates.c.leaf_index, t.certificates.c.leaf_hash)
                            .where(t.certificates.c.leaf_index >= self.tree.size)
                            .order_by(t.certificates.c.leaf_index))
        for index, leaf in rows:
            if index != self.tree.size:
                raise LogCorrupt(f"leaf {self.tree.size} is missing (next stored: {index})")
            self.tree.append(bytes(leaf))

    def refresh(self) -> int:
        with self.lock, self.engine.connect() as conn:
            self._sync(conn)
            return self.tree.size

    def append(self, submissions: Sequence[Submission]) -> list[Appended]:
        """Append a batch in one transaction (group commit); one signed tree head per batch."""
        with self.lock:
            start = self.tree.size
            try:
                with self.writer.begin() as conn:
                    self._lock_log(conn)
                    self._sync(conn)
                    start = self.tree.size
                    results = self._append(conn, submissions)
                    if self.tree.size > start:
                        self._store_head(conn)
            except BaseException:
                self.tree.truncate(start)
                raise
        return results

    def _append(self, conn: Connection, submissions: Sequence[Submission]) -> list[Appended]:
        ids = list({s.facts.id for s in submissions})
        known = {r.id: (r.leaf_index, bytes(r.leaf_hash)) for r in conn.execute(
            select(t.certificates.c.id, t.certificates.c.leaf_index, t.certificates.c.leaf_hash)
            .where(t.certificates.c.id.in_(ids)))}
        key_ids = list({s.facts.key_id for s in submissions})
        allowed = {r.key_id for r in conn.execute(
            select(t.appliances.c.key_id).where(t.appliances.c.key_id.in_(key_ids),
                                                t.appliances.c.revoked_at.is_(None)))}
        results: list[Appended] = []
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for sub in submissions:
            cid = sub.facts.id
            if cid in known:
                index, leaf = known[cid]
                if leaf == sub.leaf_hash:
                    results.append(Appended(200, cid, index))
                else:
                    results.append(Appended(409, cid, index, "conflict",
                                            "a different certificate with this id is logged"))
                continue
            if sub.facts.key_id not in allowed:
                results.append(Appended(403, cid, None, "key_not_allowed",
                                        "the signing key is unknown or revoked"))
                continue
            index = self.tree.append(sub.leaf_hash)
            known[cid] = (index, sub.leaf_hash)
            rows.append({"leaf_index": index, "leaf_hash": sub.leaf_hash, "entry": sub.entry,
                         "received_at": now, **sub.facts.columns()})
            results.append(Appended(201, cid, index))
        if rows:
            conn.execute(t.certificates.insert(), rows)
        return results

    def ensure_tree(self, size: int) -> None:
        if size > self.tree.size:
            self.refresh()

    # -- certificates -----------------------------------------------------------------
    def get(self, certificate_id: str) -> Row[Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.certificates)
                               .where(t.certificates.c.id == certificate_id.lower())).first()
        if row is None:
            raise NotFound(certificate_id)
        return row

    def search(self, *, serial: str = "", model: str = "", batch: str = "", donor: str = "",
               status: str = "", since: str = "", until: str = "", query: str = "",
               page: int = 1, per_page: int = 50) -> Page:
        c = t.certificates.c
        where: list[Any] = []
        if serial:
            where.append(or_(c.host_serial == serial, c.media_serial == serial))
        if query:
            where.append(or_(c.host_serial == query, c.media_serial == query, c.batch == query,
                             c.id == query.lower()))
        for column, value in ((c.media_model, model), (c.batch, batch), (c.donor, donor),
                              (c.status, status)):
            if value:
                where.append(column == value)
        if since:
            where.append(c.issued_at >= since)
        if until:
            where.append(c.issued_at <= until)
        cond = and_(True, *where)
        cols = [c.leaf_index, c.id, c.issued_at, c.host_serial, c.media_model, c.media_serial,
                c.batch, c.donor, c.status, c.method, c.nist_level, c.verification, c.key_id]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.certificates)
                                 .where(cond)).scalar_one()
            rows = conn.execute(select(*cols).where(cond).order_by(c.leaf_index.desc())
                                .limit(per_page).offset((page - 1) * per_page)).all()
        return Page(list(rows), total, page, per_page)

    def status_counts(self, *, batch: str = "", donor: str = "") -> dict[str, int]:
        c = t.certificates.c
        cond = c.batch == batch if batch else c.donor == donor
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.status, func.count()).where(cond).group_by(c.status))
            return {status: count for status, count in rows}

    def report_rows(self, *, batch: str = "", donor: str = "") -> list[Row[Any]]:
        """Every certificate of a batch (or donor), oldest first, without the entries."""
        c = t.certificates.c
        cond = c.batch == batch if batch else c.donor == donor
        cols = [col for col in t.certificates.c if col.name not in ("entry", "leaf_hash")]
        with self.engine.connect() as conn:
            return list(conn.execute(select(*cols).where(cond).order_by(c.leaf_index)).all())

    # -- appliances ----------------------------------------------------------------------
    def enroll(self, name: str, public_key_pem: bytes) -> tuple[str, bool]:
        """Enroll an appliance key; returns (key_id, newly enrolled). Refuses a revoked key."""
        key = load_canonical_public_pem(public_key_pem)
        kid = compute_key_id(key)
        # one writer: concurrent enrollments of a rack booting at once must not hit SQLITE_BUSY
        with self.lock, self.writer.begin() as conn:
            row = conn.execute(select(t.appliances).where(t.appliances.c.key_id == kid)).first()
            if row is not None:
                if row.revoked_at is not None:
                    raise PermissionError("this key was revoked")
                return kid, False
            conn.execute(t.appliances.insert().values(
                key_id=kid, name=name, public_key_pem=public_key_pem.decode("ascii"),
                enrolled_at=utcnow()))
        return kid, True

    def revoke(self, kid: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(t.appliances).where(t.appliances.c.key_id == kid,
                                                          t.appliances.c.revoked_at.is_(None))
                               .values(revoked_at=utcnow()))
        return bool(res.rowcount)

    def appliances(self) -> list[Row[Any]]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.appliances).order_by(t.appliances.c.name)).all())

    def appliance(self, kid: str) -> Row[Any] | None:
        """One enrolled appliance (revoked or not), or None."""
        with self.engine.connect() as conn:
            row: Row[Any] | None = conn.execute(select(t.appliances).where(
                t.appliances.c.key_id == kid)).first()
        return row

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The enrolled public key for a key id (revoked or not: revocation is checked on append)."""
        key = self._public_keys.get(kid)
        if key is not None:
            return key
        with self.engine.connect() as conn:
            pem = conn.execute(select(t.appliances.c.public_key_pem)
                               .where(t.appliances.c.key_id == kid)).scalar()
        if pem is None:
            return None
        key = load_public_pem(pem.encode("ascii"))
        self._public_keys[kid] = key
        return key

    def is_active(self, kid: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.appliances.c.revoked_at)
                               .where(t.appliances.c.key_id == kid)).first()
        return row is not None and row.revoked_at is None

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, kind: str = "admin", name: str = "") -> str:
        if kind not in TOKEN_KINDS:
            raise ValueError(kind)
        raw = {"admin": "ardl_", "enroll": "arde_", "session": "ards_"}[kind] + \
            secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(t.tokens.insert().values(token_hash=hash_token(raw), kind=kind,
                                                  name=name, created_at=utcnow()))
        return raw

    def token_kind(self, raw: str | None) -> str | None:
        if not raw or len(raw) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(t.tokens.c.kind, t.tokens.c.created_at).where(
                t.tokens.c.token_hash == hash_token(raw), t.tokens.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        if row.kind == "session":
            made = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            if (utcnow() - made).total_seconds() > SESSION_SECONDS:
                return None
        return str(row.kind)

    def revoke_token(self, raw: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(t.tokens).where(t.tokens.c.token_hash == hash_token(raw),
                                                      t.tokens.c.revoked_at.is_(None))
                               .values(revoked_at=utcnow()))
        return bool(res.rowcount)

    # -- heartbeats ----------------------------------------------------------------------
    def record_heartbeat(self, kid: str, hb: dict[str, Any]) -> None:
        """Store a validated heartbeat as the machine's row. StaleHeartbeat when its
        `sent_at` is not later than the last one accepted from this key (a replayed or
        reordered heartbeat must not make a lost machine look alive, or roll a failed state
        back), or lies more than MAX_CLOCK_AHEAD in the future of the ledger's clock."""
        host = hb.get("host") or {}
        sent = parse_sent_at(str(hb.get("sent_at") or ""))
        if sent is None:
            raise StaleHeartbeat("sent_at is not an RFC 3339 time with a time zone")
        if sent > utcnow() + MAX_CLOCK_AHEAD:
            raise StaleHeartbeat("sent_at is in the future: the machine's clock is wrong")
        values = {
            "host_serial": str(host.get("serial") or "")[:200],
            "host_product": str(host.get("product") or "")[:200],
            "host_maker": str(host.get("maker") or "")[:200],
            "mac": str(host.get("mac") or "")[:64],
            "batch": str(hb.get("batch") or "")[:200],
            "journal": str(hb.get("journal") or "")[:64],
            "jobs": orjson.dumps(hb.get("jobs") or []).decode("utf-8"),
            "sent_at": str(hb.get("sent_at") or "")[:40],
            "last_seen": utcnow(),
        }
        with self.lock, self.writer.begin() as conn:
            self._lock_log(conn)
            last = conn.execute(select(t.machines.c.sent_at)
                                .where(t.machines.c.key_id == kid)).scalar()
            if last is not None:
                previous = parse_sent_at(last)
                if previous is not None and sent <= previous:
                    raise StaleHeartbeat(f"sent_at is not later than the last heartbeat "
                                         f"accepted from this key ({last})")
                conn.execute(update(t.machines).where(t.machines.c.key_id == kid)
                             .values(heartbeats=t.machines.c.heartbeats + 1, **values))
            else:
                conn.execute(t.machines.insert().values(key_id=kid, heartbeats=1, **values))

    def machines(self, batch: str = "") -> list[Row[Any]]:
        q = select(t.machines, t.appliances.c.name).join(
            t.appliances, t.appliances.c.key_id == t.machines.c.key_id, isouter=True)
        if batch:
            q = q.where(t.machines.c.batch == batch)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(t.machines.c.host_serial)).all())
