"""`ardoise-ledger verify-log`: recompute every leaf, root and tree-head signature from the
stored entries, so a row edited (or deleted) directly in the database is detected."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Engine

from appliance.certificate import (
    CertificateError,
    load_private_pem,
    load_public_pem,
    verify_signature,
)
from ledger import tables as t
from ledger.merkle import Tree, leaf_hash
from ledger.treehead import TreeHead
from ledger.validation import facts


@dataclass
class LogReport:
    tree_size: int = 0
    heads_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(engine: Engine) -> LogReport:
    report = LogReport()
    tree = Tree()
    keys = {}
    with engine.connect() as conn:
        for row in conn.execute(select(t.appliances.c.key_id, t.appliances.c.public_key_pem)):
            keys[row.key_id] = load_public_pem(row.public_key_pem.encode("ascii"))
        pem = conn.execute(select(t.ledger_keys.c.private_key_pem)
                           .order_by(t.ledger_keys.c.created_at).limit(1)).scalar()
        rows = conn.execute(select(t.certificates).order_by(t.certificates.c.leaf_index))
        for row in rows:
            index = row.leaf_index
            if index != tree.size:
                report.problems.append(f"leaf {tree.size} missing (next stored is {index})")
                break
            entry = bytes(row.entry)
            computed = leaf_hash(entry)
            if computed != bytes(row.leaf_hash):
                report.problems.append(f"leaf {index}: stored leaf hash does not match its entry")
            tree.append(computed)
            try:
                doc = orjson.loads(entry)
            except orjson.JSONDecodeError:
                report.problems.append(f"leaf {index}: entry is not JSON")
                continue
            stored = {k: getattr(row, k) for k in facts(doc).columns()}
            for name, value in facts(doc).columns().items():
                if stored[name] != value:
                    report.problems.append(f"leaf {index}: column {name} differs from the entry")
            key = keys.get(stored["key_id"])
            if key is None:
                report.problems.append(f"leaf {index}: signed by a key never enrolled")
            else:
                try:
                    verify_signature(doc, key)
                except CertificateError as exc:
                    report.problems.append(f"leaf {index}: {exc}")
        heads = [TreeHead(r.tree_size, bytes(r.root_hash), r.timestamp, bytes(r.signature))
                 for r in conn.execute(select(t.tree_heads).order_by(t.tree_heads.c.tree_size))]
    report.tree_size = tree.size
    if pem is None:
        report.problems.append("the ledger key is missing")
        return report
    log_key = load_private_pem(pem.encode("ascii")).public_key()
    for head in heads:
        report.heads_checked += 1
        if head.tree_size > tree.size:
            report.problems.append(f"tree head {head.tree_size}: larger than the log ({tree.size})")
            continue
        if tree.root(head.tree_size) != head.root_hash:
            report.problems.append(f"tree head {head.tree_size}: root hash does not match the leaves")
        if not head.verify(log_key):
            report.problems.append(f"tree head {head.tree_size}: signature does not verify "
                                   f"({base64.b64encode(head.signature[:6]).decode()}…)")
    if not heads or heads[-1].tree_size != tree.size:
        report.problems.append(f"no signed tree head covers the whole log ({tree.size} leaves)")
    return report
