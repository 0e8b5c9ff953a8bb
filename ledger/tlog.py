"""The log in C2SP formats: checkpoints as signed notes, the Merkle tree as tlog-tiles,
entry bundles, and a tlog-proof@v1 receipt per certificate (formats in appliance.tlog).

Same hashing as the RFC 9162 API: a level-L tile holds the hashes of the perfect subtrees
of 256**L leaves, which ledger.merkle.Tree keeps as its level 8L, so a tile is a slice.
The checkpoint is signed with the log's own Ed25519 key (the one that signs RFC 9162 tree
heads), its key name is the origin line; witness cosignatures received for a tree size
are added to the checkpoint served for that size.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from appliance.tlog import (
    Checkpoint,
    Note,
    NoteSignature,
    Proof,
    check_name,
    sign_note,
    verifier_of,
)
from ledger import tables as t
from ledger.store import Ledger

TILE_WIDTH = 256
HASH = 32


class TileNotFound(Exception):
    pass


def default_origin(ledger: Ledger) -> str:
    return f"ardoise-ledger/{ledger.log_key.key_id[:16]}"


@dataclass
class CheckpointLog:
    """Signed checkpoints for one ledger (cached per tree size) and their cosignatures."""

    ledger: Ledger
    origin: str
    _notes: dict[int, Note] = field(default_factory=dict)
    cosignatures: dict[int, list[NoteSignature]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        check_name(self.origin)

    @property
    def vkey(self) -> str:
        return verifier_of(self.origin, self.ledger.log_key.public_key).encode()

    def note(self, size: int | None = None) -> Note:
        """The signed checkpoint for `size` (default: the latest tree head's size)."""
        size = self.ledger.latest_head().tree_size if size is None else size
        self.ledger.ensure_tree(size)
        with self._lock:
            note = self._notes.get(size)
            if note is None:
                text = Checkpoint(self.origin, size, self.ledger.tree.root(size)).text()
                note = sign_note(text, self.origin, self.ledger.log_key.private_key)
                self._notes[size] = note
                if len(self._notes) > 64:
                    self._notes.pop(min(self._notes))
            extra = self.cosignatures.get(size, [])
        return Note(note.text, [*note.signatures, *extra])

    def add_cosignature(self, size: int, signature: NoteSignature) -> None:
        with self._lock:
            sigs = self.cosignatures.setdefault(size, [])
            if all((s.name, s.key_id) != (signature.name, signature.key_id) for s in sigs):
                sigs.append(signature)

    def proof(self, certificate_id: str) -> Proof:
        """The tlog-proof@v1 receipt of a logged certificate at the latest checkpoint."""
        row = self.ledger.get(certificate_id)
        note = self.note()
        size = int(note.text.split("\n")[1])
        path = self.ledger.tree.inclusion_proof(row.leaf_index, size)
        return Proof(row.leaf_index, path, note)


def parse_tile_index(parts: list[str]) -> tuple[int, int | None]:
    """['x001', 'x234', '067'] (+ ['067.p', '12']) -> (1234067, width or None)."""
    width = None
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not parts[-1].isdigit() or parts[-1].startswith("0") or not 0 < int(parts[-1]) < 256:
            raise TileNotFound("bad width")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if not parts or any(len(p) != (4 if i < len(parts) - 1 else 3)
                        for i, p in enumerate(parts)):
        raise TileNotFound("bad index")
    digits = []
    for i, p in enumerate(parts):
        body = p[1:] if i < len(parts) - 1 else p
        if (i < len(parts) - 1 and not p.startswith("x")) or not body.isdigit():
            raise TileNotFound("bad index")
        digits.append(body)
    return int("".join(digits)), width


def tile_path(index: int) -> str:
    groups = f"{index:d}"
    groups = "0" * (-len(groups) % 3) + groups
    parts = [groups[i:i + 3] for i in range(0, len(groups), 3)]
    return "/".join([*("x" + p for p in parts[:-1]), parts[-1]])


def tile(ledger: Ledger, level: int, index: int, width: int | None,
         tree_size: int) -> bytes:
    """The hashes of tile `index` at `level` (full, or partial of `width`) as they stand at
    `tree_size` leaves: served only when that tree size makes them exist."""
    if not 0 <= level <= 63:
        raise TileNotFound("bad level")
    per_hash = TILE_WIDTH ** level
    available = tree_size // per_hash  # complete hashes at this level
    start = index * TILE_WIDTH
    want = TILE_WIDTH if width is None else width
    if width is None and start + TILE_WIDTH > available:
        raise TileNotFound("tile not full yet")
    if width is not None and (available // TILE_WIDTH != index
                              or available % TILE_WIDTH != width):
        raise TileNotFound("no partial tile of this width at this tree size")
    ledger.ensure_tree(tree_size)
    row = ledger.tree.levels[8 * level] if 8 * level < len(ledger.tree.levels) else b""
    data = bytes(row[start * HASH:(start + want) * HASH])
    if len(data) != want * HASH:
        raise TileNotFound("not in the tree")
    return data


def entry_bundle(ledger: Ledger, index: int, width: int | None, tree_size: int) -> bytes:
    """Entries index*256 .. +width as big-endian uint16 length-prefixed RFC 8785 bytes."""
    want = TILE_WIDTH if width is None else width
    start = index * TILE_WIDTH
    if width is None and start + TILE_WIDTH > tree_size:
        raise TileNotFound("bundle not full yet")
    if width is not None and (tree_size // TILE_WIDTH != index
                              or tree_size % TILE_WIDTH != width):
        raise TileNotFound("no partial bundle of this width at this tree size")
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(t.certificates.c.entry)
                            .where(t.certificates.c.leaf_index >= start,
                                   t.certificates.c.leaf_index < start + want)
                            .order_by(t.certificates.c.leaf_index)).all()
    if len(rows) != want:
        raise TileNotFound("entries missing")
    out = bytearray()
    for (entry,) in rows:
        data = bytes(entry)
        if len(data) > 0xFFFF:
            raise TileNotFound("an entry larger than 64 KiB cannot be bundled")
        out += len(data).to_bytes(2, "big") + data
    return bytes(out)


def export(log: CheckpointLog, out: Path, entries: bool = False) -> int:
    """Write the checkpoint and every tile for the latest tree size under `out` (a plain
    directory any web server or object store can serve); returns the files written."""
    note = log.note()
    size = int(note.text.split("\n")[1])
    written = 0
    for level in range(64):
        count = size // TILE_WIDTH ** level
        if count == 0:
            break
        for index in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            width = None if (index + 1) * TILE_WIDTH <= count else count % TILE_WIDTH
            name = tile_path(index) + (f".p/{width}" if width else "")
            paths = [(out / "tile" / str(level) / name,
                      tile(log.ledger, level, index, width, size))]
            if entries and level == 0:
                paths.append((out / "tile" / "entries" / name,
                              entry_bundle(log.ledger, index, width, size)))
            for path, data in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
                written += 1
    (out / "checkpoint.tmp").write_text(note.encode(), encoding="utf-8")
    (out / "checkpoint.tmp").replace(out / "checkpoint")
    return written + 1
