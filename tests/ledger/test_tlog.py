"""C2SP formats: known vectors (golang.org/x/mod/sumdb/note's note_test.go and the
c2sp.org/signed-note example), the ledger's checkpoint and tiles, receipts verified
offline, cosignatures, and consistency between checkpoints."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import canonical
from appliance.receipts import check_receipt
from appliance.tlog import (
    COSIGNATURE,
    NoteSignature,
    TlogError,
    cosign,
    parse_checkpoint,
    parse_note,
    parse_proof,
    parse_vkey,
    sign_note,
    unb64,
    verifier_of,
    verify_consistency,
    verify_cosignature,
    verify_note,
)
from tests.ledger.certs import certificate

# golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier, TestSign)
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
          "vqfqdngotpRZb6KE6RyyBwJnAM=\n")
# c2sp.org/signed-note, "Verifier keys", Example
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv"
             "1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def test_the_go_reference_note_verifies_and_our_signer_reproduces_it() -> None:
    verifier = parse_vkey(GO_VKEY)
    note = parse_note(GO_TEXT + "\n" + GO_SIG)
    assert verify_note(note, verifier)
    seed = unb64("+".join(GO_SKEY.split("+")[4:]))[1:]  # base64 may hold "+"
    ours = sign_note(GO_TEXT, "PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    assert ours.encode() == GO_TEXT + "\n" + GO_SIG  # Ed25519 is deterministic
    assert verifier.encode() == GO_VKEY
    with pytest.raises(TlogError):
        verify_note(parse_note(GO_TEXT.replace("cryptography", "cryptographY") + "\n" + GO_SIG),
                    verifier)


def test_the_c2sp_example_verifies_and_mangled_vkeys_are_refused() -> None:
    assert verify_note(parse_note(C2SP_NOTE), parse_vkey(C2SP_VKEY))
    for bad in (C2SP_VKEY.replace("530d903a", "530d903b"), C2SP_VKEY[:-2] + "kk",
                "example.com/foo+530d903a", "a b+530d903a+" + C2SP_VKEY.split("+")[2]):
        with pytest.raises(TlogError):
            parse_vkey(bad)
    other = verifier_of("example.com/foo", Ed25519PrivateKey.generate().public_key())
    assert not verify_note(parse_note(C2SP_NOTE), other)  # unknown key: ignored, not valid


def _fill(client: Any, key: Ed25519PrivateKey, n: int) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        doc = certificate(key, i)
        assert client.post("/api/v1/certificates", json=doc).status_code == 201
        docs.append(doc)
    return docs


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1 MTH, written here from the RFC (independent of ledger.merkle)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def test_checkpoint_tiles_and_receipts(client: Any, key: Ed25519PrivateKey, enrolled: str,
                                       auth: dict[str, str]) -> None:
    docs = _fill(client, key, 300)
    vkey = parse_vkey(client.get("/api/v1/log/vkey").text)
    note = parse_note(client.get("/checkpoint").text)
    assert verify_note(note, vkey)
    cp = parse_checkpoint(note.text)
    assert cp.origin == vkey.name and cp.size == 300
    assert cp.root.hex() == client.get("/api/v1/log/root").json()["root_hash"]
    full = client.get("/tile/0/000")
    partial = client.get("/tile/0/001.p/44")
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert partial.status_code == 200 and len(partial.content) == 44 * 32
    leaves = [full.content[i:i + 32] for i in range(0, 8192, 32)] + \
        [partial.content[i:i + 32] for i in range(0, 44 * 32, 32)]
    assert _mth(leaves) == cp.root
    assert client.get("/tile/1/000.p/1").content == _mth(leaves[:256])
    assert client.get("/tile/0/001").status_code == 404  # not full yet
    assert client.get("/tile/0/001.p/43").status_code == 404  # no such tree size
    assert client.get("/tile/entries/001.p/44").status_code == 401
    bundle = client.get("/tile/entries/001.p/44", headers=auth).content
    first = bundle[2:2 + int.from_bytes(bundle[:2], "big")]
    assert first == canonical(docs[256])
    for doc in (docs[0], docs[137], docs[299]):
        text = client.get(f"/api/v1/certificates/{doc['id']}/tlog-proof").text
        assert text.startswith("c2sp.org/tlog-proof@v1\nindex ")
        assert check_receipt(doc, text, vkey).ok
    text = client.get(f"/api/v1/certificates/{docs[5]['id']}/tlog-proof").text
    tampered = {**docs[5], "media": {**docs[5]["media"], "serial": "OTHER"}}
    assert not check_receipt(tampered, text, vkey).ok
    assert not check_receipt(docs[6], text, vkey).ok  # another certificate's receipt
    proof = parse_proof(text)
    proof.note = sign_note(proof.note.text.replace("\n300\n", "\n299\n"), vkey.name,
                           Ed25519PrivateKey.generate())
    assert not check_receipt(docs[5], proof.encode(), vkey).ok  # another tree, another key


def test_cosignatures_and_a_witness_policy(client: Any, key: Ed25519PrivateKey,
                                           enrolled: str) -> None:
    docs = _fill(client, key, 3)
    vkey = parse_vkey(client.get("/api/v1/log/vkey").text)
    text = client.get(f"/api/v1/certificates/{docs[1]['id']}/tlog-proof").text
    proof = parse_proof(text)
    witnesses = [Ed25519PrivateKey.generate() for _ in range(3)]
    names = [f"witness{i}.example" for i in range(3)]
    for w, name in zip(witnesses[:2], names[:2], strict=True):
        proof.note.signatures.append(cosign(proof.note, name, w, 1_764_000_000))
    verifiers = [verifier_of(n, w.public_key(), COSIGNATURE)
                 for n, w in zip(names, witnesses, strict=True)]
    assert verify_cosignature(proof.note, verifiers[0]) == 1_764_000_000
    assert check_receipt(docs[1], proof.encode(), vkey, verifiers, required=2).ok
    short = check_receipt(docs[1], proof.encode(), vkey, verifiers, required=3)
    assert not short.ok and short.witnesses == names[:2]
    good = proof.note.signatures[1]
    bad = bytearray(good.value)
    bad[20] ^= 1  # a bit of the witness's Ed25519 signature
    proof.note.signatures[1] = NoteSignature(good.name, good.key_id, bytes(bad))
    forged = check_receipt(docs[1], proof.encode(), vkey, verifiers, required=1)
    assert not forged.ok and "does not verify" in str(forged.problems)


def test_consistency_between_checkpoints(client: Any, key: Ed25519PrivateKey,
                                         enrolled: str) -> None:
    roots = {}
    for n in range(1, 21):
        _fill(client, key, 1) if n > 1 else _fill(client, key, 1)
        roots[n] = parse_checkpoint(parse_note(client.get("/checkpoint").text).text).root
    for first, second in ((1, 20), (4, 7), (6, 8), (7, 20), (16, 17), (20, 20)):
        proof = [bytes.fromhex(h) for h in client.get(
            f"/api/v1/log/consistency?first={first}&second={second}").json()["proof"]]
        assert verify_consistency(first, second, roots[first], roots[second], proof)
        if first != second:
            assert not verify_consistency(first, second, roots[first][::-1], roots[second],
                                          proof)


def test_export_tiles_writes_what_the_ledger_serves(client: Any, key: Ed25519PrivateKey,
                                                    enrolled: str, ledger: Any,
                                                    tmp_path: Any) -> None:
    from ledger.tlog import CheckpointLog, export

    _fill(client, key, 5)
    log = CheckpointLog(ledger, client.app.app.state.checkpoints.origin)
    assert export(log, tmp_path / "www", entries=True) == 3
    assert (tmp_path / "www" / "tile" / "0" / "000.p" / "5").read_bytes() == \
        client.get("/tile/0/000.p/5").content
    assert verify_note(parse_note((tmp_path / "www" / "checkpoint").read_text()),
                       parse_vkey(client.get("/api/v1/log/vkey").text))
