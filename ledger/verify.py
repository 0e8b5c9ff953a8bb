"""`ardoise-ledger verify-log`: recompute every leaf, root and tree-head signature from the
stored entries, so a row edited (or deleted) directly in the database is detected."""

from __future__ import annotations

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
from appliance.i18n import N_, Msg
from ledger import tables as t
from ledger.merkle import Tree, leaf_hash
from ledger.treehead import TreeHead
from ledger.validation import facts


@dataclass
class LogReport:
    tree_size: int = 0
    heads_checked: int = 0
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
    if pem is None:
        report.add(N_("the ledger key is missing"))
        return report
    log_key = load_private_pem(pem.encode("ascii")).public_key()
    for head in heads:
        report.heads_checked += 1
        if head.tree_size > tree.size:
            report.add(N_("tree head {size}: larger than the log ({leaves})"), size=head.tree_size,
                       leaves=tree.size)
            continue
        if tree.root(head.tree_size) != head.root_hash:
            report.add(N_("tree head {size}: root hash does not match the leaves"), size=head.tree_size)
        if not head.verify(log_key):
            report.add(N_("tree head {size}: signature does not verify"), size=head.tree_size)
    if not heads or heads[-1].tree_size != tree.size:
        report.add(N_("no signed tree head covers the whole log ({leaves} leaves)"),
                   leaves=tree.size)
    return report
