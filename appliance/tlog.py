"""Transparency-log formats of C2SP, written from the specifications on `cryptography`:
signed notes and vkeys (c2sp.org/signed-note), checkpoints (c2sp.org/tlog-checkpoint),
Ed25519 cosignatures (c2sp.org/tlog-cosignature, type 0x04), proofs
(c2sp.org/tlog-proof@v1), and the RFC 6962/9162 Merkle checks a verifier needs: inclusion
and consistency. Pure functions, no network: the ledger signs and serves with them, the
appliance and `ardoise cert verify --proof` check offline with them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01  # a note signature (the log's own)
COSIGNATURE = 0x04  # a timestamped Ed25519 checkpoint cosignature (witnesses)
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
EM_DASH = "\u2014"
MAX_SIGNATURES = 32


class TlogError(ValueError):
    """A note, checkpoint, vkey or proof that is malformed or does not verify."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TlogError(f"bad base64: {text[:40]!r}") from None
    if b64(raw) != text:
        raise TlogError("base64 not in its canonical form")
    return raw


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, kind: int, public: bytes) -> int:
    """SHA-256(name || 0x0A || type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([kind]) + public).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Verifier:
    """A vkey: `name+hex(key ID)+base64(type || public key)`."""

    name: str
    kind: int
    public: bytes

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.kind, self.public)

    def encode(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64(bytes([self.kind]) + self.public)}"

    @property
    def key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public)


def check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise TlogError(f"bad key name {name!r}: non-empty, no spaces, no '+'")
    return name


def parse_vkey(text: str) -> Verifier:
    parts = text.strip().split("+", 2)  # the base64 key material may hold "+"
    if len(parts) != 3:
        raise TlogError("a vkey is NAME+KEYID+KEY")
    name, hex_id, material = parts
    check_name(name)
    raw = unb64(material)
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE):
        raise TlogError("only Ed25519 vkeys (types 0x01 and 0x04) are supported")
    verifier = Verifier(name, raw[0], raw[1:])
    if len(hex_id) != 8 or f"{verifier.key_id:08x}" != hex_id.lower():
        raise TlogError("the vkey's key ID does not match its name and key")
    return verifier


def verifier_of(name: str, key: Ed25519PublicKey, kind: int = ED25519) -> Verifier:
    return Verifier(check_name(name), kind, raw_public(key))


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    value: bytes  # what follows the key ID


@dataclass
class Note:
    text: str  # ends in a newline; what signatures cover
    signatures: list[NoteSignature] = field(default_factory=list)

    def encode(self) -> str:
        lines = [f"{EM_DASH} {s.name} {b64(struct.pack('>I', s.key_id) + s.value)}\n"
                 for s in self.signatures]
        return self.text + "\n" + "".join(lines)


def parse_note(data: str) -> Note:
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise TlogError("control characters in the note")
    if not data.endswith("\n") or "\n\n" not in data:
        raise TlogError("a note is text, a blank line and signature lines")
    split = data.rstrip("\n").rfind("\n\n")
    text, sig_block = data[:split + 1], data[split + 2:]
    signatures = []
    for line in sig_block.splitlines():
        if not line.startswith(EM_DASH + " "):
            raise TlogError("a signature line starts with an em dash")
        try:
            name, value = line[2:].split(" ")
        except ValueError:
            raise TlogError("a signature line is '— NAME SIGNATURE'") from None
        raw = unb64(value)
        if len(raw) < 5:
            raise TlogError("signature too short")
        signatures.append(NoteSignature(check_name(name), int.from_bytes(raw[:4], "big"),
                                        raw[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise TlogError("a note has 1 to 32 signatures here")
    return Note(text, signatures)


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> Note:
    if not text.endswith("\n"):
        raise TlogError("the note text ends in a newline")
    kid = key_id(check_name(name), ED25519, raw_public(key.public_key()))
    return Note(text, [NoteSignature(name, kid, key.sign(text.encode("utf-8")))])


def _matching(note: Note, verifier: Verifier) -> list[NoteSignature]:
    return [s for s in note.signatures if s.name == verifier.name and s.key_id == verifier.key_id]


def verify_note(note: Note, verifier: Verifier) -> bool:
    """True when a signature by `verifier` (type 0x01) is there and verifies. A signature
    from the known key that fails to verify is an error (the whole note is rejected)."""
    found = _matching(note, verifier)
    for sig in found:
        try:
            verifier.key.verify(sig.value, note.text.encode("utf-8"))
        except InvalidSignature:
            raise TlogError(f"the signature of {verifier.name} does not verify") from None
    return bool(found)


def cosignature_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(note: Note, name: str, key: Ed25519PrivateKey, timestamp: int) -> NoteSignature:
    """A witness's cosignature line over the checkpoint `note` (what a witness returns)."""
    kid = key_id(check_name(name), COSIGNATURE, raw_public(key.public_key()))
    sig = key.sign(cosignature_message(note.text, timestamp))
    return NoteSignature(name, kid, struct.pack(">Q", timestamp) + sig)


def verify_cosignature(note: Note, verifier: Verifier) -> int | None:
    """The timestamp of a valid cosignature by `verifier` (type 0x04), None when absent."""
    for sig in _matching(note, verifier):
        if len(sig.value) != 72:
            raise TlogError(f"malformed cosignature from {verifier.name}")
        (timestamp,) = struct.unpack(">Q", sig.value[:8])
        try:
            verifier.key.verify(sig.value[8:], cosignature_message(note.text, timestamp))
        except InvalidSignature:
            raise TlogError(f"the cosignature of {verifier.name} does not verify") from None
        return int(timestamp)
    return None


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise TlogError("a checkpoint is origin, size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise TlogError("bad tree size line")
    digest = unb64(root)
    if len(digest) != 32:
        raise TlogError("the root hash has 32 bytes")
    return Checkpoint(origin, int(size), digest, tuple(lines[3:-1]))


# -- RFC 6962 / 9162 Merkle verification ----------------------------------------------------

def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that `path` proves `leaf` at `index` to be under."""
    if not 0 <= index < size:
        raise TlogError(f"index {index} outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise TlogError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise TlogError("inclusion proof too short")
    return r


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2: the tree of `second` leaves extends the tree of `first`."""
    if not 0 < first <= second:
        raise TlogError("need 0 < first <= second")
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root starts the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# -- tlog-proof@v1 --------------------------------------------------------------------------

@dataclass
class Proof:
    index: int
    path: list[bytes]
    note: Note
    extra: bytes | None = None

    def encode(self) -> str:
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + b64(self.extra))
        lines.append(f"index {self.index}")
        lines += [b64(h) for h in self.path]
        return "\n".join(lines) + "\n\n" + self.note.encode()

    @property
    def checkpoint(self) -> Checkpoint:
        return parse_checkpoint(self.note.text)


def parse_proof(data: str) -> Proof:
    head, sep, rest = data.partition("\n\n")
    if not sep:
        raise TlogError("a proof is header lines, a blank line and the checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise TlogError(f"not a {PROOF_HEADER} proof")
    extra = None
    at = 1
    if len(lines) > at and lines[at].startswith("extra "):
        extra = unb64(lines[at][6:])
        at += 1
    if len(lines) <= at or not lines[at].startswith("index "):
        raise TlogError("the proof's index line is missing")
    index = lines[at][6:]
    if not index.isdigit() or (index != "0" and index.startswith("0")):
        raise TlogError("bad index line")
    path = [unb64(line) for line in lines[at + 1:]]
    if any(len(h) != 32 for h in path):
        raise TlogError("proof hashes have 32 bytes")
    return Proof(int(index), path, parse_note(rest), extra)
