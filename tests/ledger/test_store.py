"""The store on SQLite and PostgreSQL: two ledger processes sharing one database (here two
Ledger objects with their own engines) append in turn and keep one consistent log."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import canonical, public_pem
from ledger.db import make_engine
from ledger.merkle import leaf_hash, root_of
from ledger.store import Ledger, Submission
from ledger.validation import facts
from ledger.verify import verify_log
from tests.ledger.certs import certificate


def _sub(doc: dict[str, Any]) -> Submission:
    entry = canonical(doc)
    return Submission(entry=entry, leaf_hash=leaf_hash(entry), facts=facts(doc))


def test_two_writers_share_one_log(db_url: str, ledger: Ledger) -> None:
    other = Ledger(make_engine(db_url))
    assert other.log_key.key_id == ledger.log_key.key_id
    key = Ed25519PrivateKey.generate()
    ledger.enroll("a", public_pem(key.public_key()))
    docs = [certificate(key, n) for n in range(12)]
    results = []
    for i in range(0, 12, 3):
        writer = ledger if (i // 3) % 2 == 0 else other
        results += writer.append([_sub(d) for d in docs[i:i + 3]])
    assert [r.status for r in results] == [201] * 12
    assert [r.leaf_index for r in results] == list(range(12))
    # The same certificate through the other writer is a duplicate, not a second leaf.
    assert other.append([_sub(docs[0])])[0].status == 200
    assert ledger.append([_sub(docs[5])])[0].status == 200
    expected = root_of([leaf_hash(canonical(d)) for d in docs])
    assert ledger.latest_head().root_hash == expected
    ledger.refresh()
    other.refresh()
    assert ledger.tree.root() == other.tree.root() == expected
    report = verify_log(ledger.engine)
    assert report.ok, report.problems
    assert report.tree_size == 12
    other.engine.dispose()


def test_duplicates_inside_one_batch(ledger: Ledger) -> None:
    key = Ed25519PrivateKey.generate()
    ledger.enroll("a", public_pem(key.public_key()))
    doc = certificate(key, 1)
    changed = certificate(key, 1, id=doc["id"], operator="X")
    results = ledger.append([_sub(doc), _sub(doc), _sub(changed)])
    assert [r.status for r in results] == [201, 200, 409]
    assert ledger.tree.size == 1
