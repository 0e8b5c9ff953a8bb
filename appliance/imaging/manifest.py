"""The image manifest (`ardoise.image/1`): what an image holds, where, and its hashes.

An image is `NAME.manifest.json` + `NAME.data`. The data file is a sequence of independent
zstd frames, one per chunk. The manifest lists every chunk (disk offset, length, BLAKE3 of
the uncompressed bytes, offset and length of its frame in the data file), the ranges that
must read as zero on the target (`must_zero`), the disk size the image needs, a root hash
and the publisher's Ed25519 signature.

Root hash (`root_hash`): BLAKE3 over the UTF-8 bytes of "ardoise.image/1\\n" followed, for
every chunk in disk order, by its disk offset and length (unsigned 64-bit little-endian)
and the 32 raw bytes of its BLAKE3 digest. The same computation over the digests read back
from a disk gives the read-back root hash: equal only if every chunk matched.

Signature: `{"alg": "ed25519", "key_id": hex SHA-256 of the raw public key, "value":
base64 signature over the RFC 8785 bytes of the manifest without its "signature" member}`,
the same scheme as certificates.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance import certificate
from appliance.output import looks_like_json
from erasure.text import Msg

FORMAT = "ardoise.image/1"
SCHEMA_PATH = Path(__file__).parent / "manifest.schema.json"
MAX_CHUNK = 64 * 1024 * 1024


class ManifestError(Exception):
    """The manifest is malformed, inconsistent, unsigned or not trusted."""

    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Chunk:
    index: int
    disk_offset: int
    length: int
    blake3: str
    data_offset: int
    data_length: int
    role: str | None = None  # "partition-table": the post-write steps may change it


@dataclass(frozen=True)
class Extent:
    disk_offset: int
    length: int


@dataclass
class Manifest:
    name: str
    version: str
    created: str
    image_bytes: int
    min_disk_bytes: int
    logical_block_size: int
    chunk_bytes: int
    data_file: str
    data_bytes: int
    chunks: list[Chunk]
    must_zero: list[Extent] = field(default_factory=list)
    partition_table: str = "none"
    root_hash: str = ""
    signature: dict[str, str] | None = None
    document: dict[str, Any] = field(default_factory=dict, repr=False)
    manifest_hash: str = ""  # BLAKE3 of the manifest file's bytes, as fetched

    @property
    def mapped_bytes(self) -> int:
        return sum(c.length for c in self.chunks)

    @property
    def zero_bytes(self) -> int:
        return sum(z.length for z in self.must_zero)

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "image_bytes": self.image_bytes,
            "min_disk_bytes": self.min_disk_bytes,
            "logical_block_size": self.logical_block_size,
            "chunk_bytes": self.chunk_bytes,
            "compression": "zstd",
            "data_file": self.data_file,
            "data_bytes": self.data_bytes,
            "partition_table": self.partition_table,
            "mapped_bytes": self.mapped_bytes,
            "chunks": [
                {k: v for k, v in asdict(c).items() if k != "index" and v is not None}
                for c in self.chunks
            ],
            "must_zero": [asdict(z) for z in self.must_zero],
            "root_hash": self.root_hash,
        }
        if self.signature is not None:
            doc["signature"] = dict(self.signature)
        return doc


def root_hash(entries: Iterable[tuple[int, int, bytes]]) -> str:
    """Root hash over (disk_offset, length, raw 32-byte digest) in disk order."""
    h = blake3.blake3(FORMAT.encode() + b"\n")
    for offset, length, digest in entries:
        h.update(struct.pack("<QQ", offset, length))
        h.update(digest)
    return h.hexdigest()


def chunk_root_hash(chunks: Sequence[Chunk], digests: Sequence[str] | None = None) -> str:
    hexes = digests if digests is not None else [c.blake3 for c in chunks]
    return root_hash(
        (c.disk_offset, c.length, bytes.fromhex(d)) for c, d in zip(chunks, hexes, strict=True)
    )


def sign(doc: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    return certificate.sign(doc, key)


def not_a_manifest() -> Msg:
    return Msg("not an image manifest (it is not JSON text): give the .manifest.json that "
               "`ardoise image build` wrote")


def parse_bytes(raw: bytes) -> Manifest:
    """Parse and check a manifest (schema and consistency; not the signature)."""
    if not looks_like_json(raw[:4096]):
        raise ManifestError(not_a_manifest())
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            Msg("manifest is not valid JSON (truncated or corrupt?) at line {line} column "
                "{column}", line=exc.lineno, column=exc.colno)
        ) from exc
    except ValueError as exc:  # not UTF-8 text
        raise ManifestError(Msg("manifest is not valid JSON (truncated or corrupt?)")) from exc
    if not isinstance(doc, dict):
        raise ManifestError(Msg("manifest is not a JSON object"))
    m = parse(doc)
    m.manifest_hash = blake3.blake3(raw).hexdigest()
    return m


_INT_FIELDS = {"chunks": ("disk_offset", "length", "data_offset", "data_length"),
               "must_zero": ("disk_offset", "length")}


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    """JSON Schema errors. Long lists are checked item by item against the schema's item
    rules on a sample, and every item gets a fast type check (jsonschema is slow on
    thousands of chunks)."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    sample = dict(doc)
    out = []
    for key, names in _INT_FIELDS.items():
        items = doc.get(key)
        if not isinstance(items, list):
            continue
        sample[key] = items[:2] + items[-2:]
        item_schema = schema["properties"][key]["items"]
        for i, item in enumerate(items):
            if not (isinstance(item, dict) and set(item) <= set(item_schema["properties"])
                    and all(type(item.get(n)) is int and item[n] >= 0 for n in names)
                    and (key != "chunks" or (isinstance(item.get("blake3"), str)
                                             and len(item["blake3"]) == 64))):
                out += [f"{key}/{i}: {e.message}" for e in
                        validator.evolve(schema=item_schema).iter_errors(item)] or \
                    [f"{key}/{i}: malformed"]
    for err in sorted(validator.iter_errors(sample), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        out.append(f"{where}: {err.message}")
    return out


def parse(doc: dict[str, Any]) -> Manifest:
    errors = _schema_errors(doc)
    if errors:
        raise ManifestError(
            Msg("manifest does not follow {format}: {errors}", format=FORMAT,
                errors="; ".join(errors[:5]))
        )
    chunks = [
        Chunk(i, c["disk_offset"], c["length"], c["blake3"], c["data_offset"], c["data_length"],
              c.get("role"))
        for i, c in enumerate(doc["chunks"])
    ]
    m = Manifest(
        name=doc["name"],
        version=doc["version"],
        created=doc["created"],
        image_bytes=doc["image_bytes"],
        min_disk_bytes=doc["min_disk_bytes"],
        logical_block_size=doc["logical_block_size"],
        chunk_bytes=doc["chunk_bytes"],
        data_file=doc["data_file"],
        data_bytes=doc["data_bytes"],
        chunks=chunks,
        must_zero=[Extent(z["disk_offset"], z["length"]) for z in doc["must_zero"]],
        partition_table=doc.get("partition_table", "none"),
        root_hash=doc["root_hash"],
        signature=doc.get("signature"),
        document=doc,
    )
    check_consistency(m)
    return m


def check_consistency(m: Manifest) -> None:
    lbs = m.logical_block_size
    extents = sorted(
        [(c.disk_offset, c.length, f"chunk {c.index}") for c in m.chunks]
        + [(z.disk_offset, z.length, "must_zero range") for z in m.must_zero]
    )
    end = 0
    for offset, length, what in extents:
        if offset % lbs or length % lbs:
            raise ManifestError(Msg("{what} at offset {offset} is not aligned to {lbs} bytes",
                                    what=what, offset=offset, lbs=lbs))
        if offset < end:
            raise ManifestError(Msg("{what} at offset {offset} overlaps another range",
                                    what=what, offset=offset))
        end = offset + length
    if end > m.image_bytes or m.image_bytes > m.min_disk_bytes:
        raise ManifestError(Msg("ranges reach past the image size ({size} bytes)",
                                size=m.image_bytes))
    previous = -1
    for c in m.chunks:
        if c.disk_offset <= previous:
            raise ManifestError(Msg("chunk {index} is out of disk order", index=c.index))
        previous = c.disk_offset
        if c.data_offset + c.data_length > m.data_bytes:
            raise ManifestError(Msg("chunk {index} lies past the end of the data file",
                                    index=c.index))
        if c.length > MAX_CHUNK:
            raise ManifestError(Msg("chunk {index} is larger than {max} bytes",
                                    index=c.index, max=MAX_CHUNK))
    if chunk_root_hash(m.chunks) != m.root_hash:
        raise ManifestError(Msg("root hash does not match the chunk list"))


def load_trusted_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """key_id -> public key, from PEM files (SubjectPublicKeyInfo)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            key = certificate.load_public_pem(Path(path).read_bytes())
        except (OSError, ValueError, certificate.CertificateError) as exc:
            raise ManifestError(Msg("cannot read trusted key {path}: {error}",
                                    path=str(path), error=str(exc))) from exc
        keys[certificate.key_id(key)] = key
    return keys


def default_trust(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "keys" / "trusted").glob("*.pem"))


def verify(m: Manifest, trusted: dict[str, Ed25519PublicKey]) -> str:
    """Check the signature against the trusted keys; returns the signer's key id."""
    sig = m.signature
    if not isinstance(sig, dict):
        raise ManifestError(Msg("manifest is not signed"))
    kid = str(sig.get("key_id", ""))
    if not trusted:
        raise ManifestError(Msg("no trusted publisher key (use --trust PUBKEY.pem)"))
    if kid not in trusted:
        raise ManifestError(Msg("manifest is signed by an unknown key {key_id}", key_id=kid))
    try:
        certificate.verify_signature(m.document, trusted[kid])
    except certificate.CertificateError as exc:
        raise ManifestError(Msg("manifest signature does not verify: {error}",
                                error=str(exc))) from exc
    return kid
