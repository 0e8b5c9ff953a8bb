"""Inclusion and consistency proofs checked by a verifier written from RFC 9162 alone
(sections 2.1.1, 2.1.3.2 and 2.1.4.2); it shares no code with ledger.merkle."""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from appliance.certificate import canonical
from ledger.merkle import Tree


# ---- the independent implementation (RFC 9162) -----------------------------------------
def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def rfc_leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of section 2.1.1, over already hashed leaves."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def verify_inclusion(leaf_index: int, tree_size: int, leaf_hash: bytes,
                     path: list[bytes], root: bytes) -> bool:
    """Section 2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while not (fn & 1) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       path: list[bytes]) -> bool:
    """Section 2.1.4.2 (equal sizes: the roots must simply be equal)."""
    if first == second:
        return not path and first_hash == second_hash
    if not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not fn & 1:
                while not (fn & 1) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def verify_tree_head(head: dict[str, Any], public_key_pem: str) -> None:
    """Signature over TreeHeadDataV2 (section 4.10): timestamp, tree_size, root (opaque<32..>)."""
    root = bytes.fromhex(head["root_hash"])
    data = struct.pack(">QQ", head["timestamp"], head["tree_size"]) + bytes([len(root)]) + root
    key = load_pem_public_key(public_key_pem.encode())
    key.verify(base64.b64decode(head["signature"]), data)  # type: ignore[union-attr]


# ---- the server's tree against it --------------------------------------------------------
def test_every_proof_of_small_trees_verifies() -> None:
    rng = random.Random(9162)
    leaves = [rfc_leaf(rng.randbytes(rng.randint(0, 40))) for _ in range(40)]
    tree = Tree(leaves)
    for n in range(1, len(leaves) + 1):
        root = mth(leaves[:n])
        assert tree.root(n) == root
        for m in range(n):
            path = tree.inclusion_proof(m, n)
            assert verify_inclusion(m, n, leaves[m], path, root)
            assert not verify_inclusion(m, n, leaves[(m + 1) % n] if n > 1 else b"\0" * 32,
                                        path, root)
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert verify_consistency(m, n, mth(leaves[:m]), root, proof), (m, n)
            if m < n:
                assert not verify_consistency(m, n, mth(leaves[:m]), sha256(b"other"), proof)


def test_large_tree_spot_checks() -> None:
    rng = random.Random(1)
    leaves = [rfc_leaf(str(i).encode()) for i in range(3000)]
    tree = Tree(leaves)
    for _ in range(30):
        n = rng.randint(1, 3000)
        m = rng.randint(0, n - 1)
        root = mth(leaves[:n])
        assert verify_inclusion(m, n, leaves[m], tree.inclusion_proof(m, n), root)
        first = rng.randint(1, n)
        assert verify_consistency(first, n, mth(leaves[:first]), root,
                                  tree.consistency_proof(first, n))


def test_tree_forgets_a_failed_append() -> None:
    leaves = [rfc_leaf(bytes([i])) for i in range(11)]
    tree = Tree(leaves)
    tree.append(rfc_leaf(b"x"))
    tree.truncate(11)
    assert tree.root() == mth(leaves)
    tree.append(leaves[0])
    assert tree.root() == mth(leaves + [leaves[0]])


# ---- through the API, on SQLite and PostgreSQL ------------------------------------------
def _h(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_api_proofs_verify_independently(client: Any, submit: Any, auth: dict[str, str]) -> None:
    docs = []
    for n in range(5):
        doc, r = submit(n)
        assert r.status_code == 201, r.text
        docs.append(doc)
    early = client.get("/api/v1/log/root").json()
    for n in range(5, 13):
        doc, r = submit(n)
        assert r.status_code == 201
        docs.append(doc)
    head = client.get("/api/v1/log/root").json()
    key = client.get("/api/v1/log/key").json()
    verify_tree_head(early, key["public_key_pem"])
    verify_tree_head(head, key["public_key_pem"])
    assert early["tree_size"] == 5 and head["tree_size"] == 13
    leaves = [rfc_leaf(canonical(d)) for d in docs]
    assert mth(leaves).hex() == head["root_hash"]
    assert mth(leaves[:5]).hex() == early["root_hash"]
    for i, doc in enumerate(docs):
        proof = client.get(f"/api/v1/certificates/{doc['id']}/proof", headers=auth).json()
        assert proof["leaf_index"] == i and proof["tree_size"] == 13
        assert proof["leaf_hash"] == leaves[i].hex()
        assert verify_inclusion(i, 13, leaves[i], _h(proof["audit_path"]),
                                bytes.fromhex(head["root_hash"]))
    old = client.get(f"/api/v1/certificates/{docs[2]['id']}/proof?tree_size=5",
                     headers=auth).json()
    assert verify_inclusion(2, 5, leaves[2], _h(old["audit_path"]),
                            bytes.fromhex(early["root_hash"]))
    cons = client.get("/api/v1/log/consistency?first=5&second=13").json()
    assert verify_consistency(5, 13, bytes.fromhex(early["root_hash"]),
                              bytes.fromhex(head["root_hash"]), _h(cons["proof"]))
    assert client.get("/api/v1/log/consistency?first=6&second=99").status_code == 400
    assert client.get(f"/api/v1/certificates/{docs[9]['id']}/proof?tree_size=5",
                      headers=auth).status_code == 400


@pytest.mark.parametrize("size", [1, 2, 7, 8, 9])
def test_consistency_sizes_against_reference(size: int) -> None:
    leaves = [rfc_leaf(bytes([i])) for i in range(size + 5)]
    tree = Tree(leaves)
    assert verify_consistency(size, size + 5, mth(leaves[:size]), mth(leaves),
                              tree.consistency_proof(size, size + 5))
