"""`ardoise-ledger verify-log`: recompute every leaf, root and tree-head signature from the
stored entries, so a row edited (or deleted) directly in the database is detected.

Two anchors outside the database make the check independent of it: the log's public key
(from the key file, `--log-key`), so tree heads re-signed with another key fail, and a
checkpoint kept by the operator or a witness (`--since`: the JSON of GET /api/v1/log/root),
so a log truncated below it, or rewritten under it, fails even when its remaining rows and
heads are self-consistent."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.engine import Engine

from appliance.certificate import (
    CertificateError,
    load_public_pem,
    verify_signature,
)
from appliance.i18n import N_, Msg
from ledger import logkey
from ledger import tables as t
from ledger.merkle import Tree, leaf_hash
from ledger.treehead import TreeHead
from ledger.validation import facts


@dataclass
class LogReport:
    tree_size: int = 0
    heads_checked: int = 0
    key_in_database: bool = False  # the private key sits in the database: no outside anchor
    since_size: int | None = None  # the kept checkpoint that was found to be a prefix
    found: list[Msg] = field(default_factory=list)

    def add(self, template: str, **values: object) -> None:
        self.found.append(Msg(template, **values))

    @property
    def problems(self) -> list[str]:
        """In English (JSON output)."""
        return [str(m) for m in self.found]

    @property
    def ok(self) -> bool:
        return not self.found


def checkpoint_from_json(data: object) -> TreeHead:
    """A kept tree head (GET /api/v1/log/root's JSON); ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("a checkpoint is a JSON object")
    try:
        return TreeHead(int(data["tree_size"]), bytes.fromhex(str(data["root_hash"])),
                        int(data["timestamp"]),
                        base64.b64decode(str(data["signature"]), validate=True))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"not a checkpoint of this ledger ({exc})") from None


def verify_log(engine: Engine, log_key: Ed25519PublicKey | None = None,
               since: TreeHead | None = None) -> LogReport:
    """Every check; `log_key` (from outside the database) replaces the keys it names, and
    `since` must be a prefix of the log."""
    report = LogReport()
    tree = Tree()
    keys = {}
    with engine.connect() as conn:
        for row in conn.execute(select(t.appliances.c.key_id, t.appliances.c.public_key_pem)):
            keys[row.key_id] = load_public_pem(row.public_key_pem.encode("ascii"))
        log_keys = [log_key] if log_key is not None else logkey.public_keys(conn)
        report.key_in_database = logkey.key_in_database(conn)
        rows = conn.execute(select(t.certificates).order_by(t.certificates.c.leaf_index))
        for row in rows:
            index = row.leaf_index
            if index != tree.size:
                report.add(N_("leaf {index} missing (next stored is {next})"), index=tree.size, next=index)
                break
            entry = bytes(row.entry)
            computed = leaf_hash(entry)
            if computed != bytes(row.leaf_hash):
                report.add(N_("leaf {index}: stored leaf hash does not match its entry"), index=index)
            tree.append(computed)
            try:
                doc = orjson.loads(entry)
            except orjson.JSONDecodeError:
                report.add(N_("leaf {index}: entry is not JSON"), index=index)
                continue
            stored = {k: getattr(row, k) for k in facts(doc).columns()}
            for name, value in facts(doc).columns().items():
                if stored[name] != value:
                    report.add(N_("leaf {index}: column {name} differs from the entry"), index=index,
                               name=name)
            key = keys.get(stored["key_id"])
            if key is None:
                report.add(N_("leaf {index}: signed by a key never enrolled"), index=index)
            else:
                try:
                    verify_signature(doc, key)
                except CertificateError:
                    report.add(N_("leaf {index}: the appliance signature does not verify"), index=index)
        heads = [TreeHead(r.tree_size, bytes(r.root_hash), r.timestamp, bytes(r.signature))
                 for r in conn.execute(select(t.tree_heads).order_by(t.tree_heads.c.tree_size))]
    report.tree_size = tree.size
    if not log_keys:
        report.add(N_("the ledger key is missing"))
        return report
    if since is not None:
        _check_since(report, tree, since, log_keys)
    for head in heads:
        report.heads_checked += 1
        if head.tree_size > tree.size:
            report.add(N_("tree head {size}: larger than the log ({leaves})"), size=head.tree_size,
                       leaves=tree.size)
            continue
        if tree.root(head.tree_size) != head.root_hash:
            report.add(N_("tree head {size}: root hash does not match the leaves"), size=head.tree_size)
        if not any(head.verify(key) for key in log_keys):
            report.add(N_("tree head {size}: signature does not verify"), size=head.tree_size)
    if not heads or heads[-1].tree_size != tree.size:
        report.add(N_("no signed tree head covers the whole log ({leaves} leaves)"),
                   leaves=tree.size)
    return report


def _check_since(report: LogReport, tree: Tree, since: TreeHead,
                 log_keys: list[Ed25519PublicKey]) -> None:
    if not any(since.verify(key) for key in log_keys):
        report.add(N_("the checkpoint of size {size} is not signed by this log's key"),
                   size=since.tree_size)
    if since.tree_size > tree.size:
        report.add(N_("the log has {leaves} entries, fewer than the {size} of the kept "
                      "checkpoint: entries were removed"), leaves=tree.size,
                   size=since.tree_size)
    elif tree.root(since.tree_size) != since.root_hash:
        report.add(N_("the first {size} entries differ from the kept checkpoint: the log "
                      "was rewritten"), size=since.tree_size)
    else:
        report.since_size = since.tree_size
