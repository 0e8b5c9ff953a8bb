"""Overwrite patterns: zero, and a keyed random stream any range of which can be regenerated.

The random stream is AES-128 in counter mode. The media is cut into 1 MiB segments; the
key of segment s is AES_k(s) (k: a random 16-byte key kept for verification) and the
segment holds the AES-CTR keystream of that key from counter 0, i.e. 16-byte block j of
segment s is AES_{AES_k(s)}(j). Any byte offset therefore maps to (segment, counter) and
verification regenerates exactly what was written without storing it. Per-segment keys
let OpenSSL run the keystream as ECB over a fixed counter table (AES-NI at full width,
no counter arithmetic in Python), the cheapest way to produce it from Python.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

SEGMENT = 1 << 20
AES_BLOCK = 16
PATTERNS = ("zero", "random")

_COUNTERS = b"".join(i.to_bytes(AES_BLOCK, "big") for i in range(SEGMENT // AES_BLOCK))


def new_key() -> bytes:
    return os.urandom(16)


def _ecb(key: bytes) -> CipherContext:
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


@dataclass
class Pattern:
    """`name` zero|random; `key` the 16-byte key of the random stream."""

    name: str = "zero"
    key: bytes | None = None
    _master: CipherContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in PATTERNS:
            raise ValueError(f"unknown pattern {self.name!r}")
        if self.name == "random":
            if self.key is None or len(self.key) != 16:
                raise ValueError("the random pattern needs a 16-byte key")

    @property
    def is_zero(self) -> bool:
        return self.name == "zero"

    def segment_keys(self, first: int, count: int) -> list[bytes]:
        """Keys of segments first .. first+count-1 (AES_k(s), one ECB call)."""
        assert self.key is not None
        data = b"".join(s.to_bytes(AES_BLOCK, "big") for s in range(first, first + count))
        out = _ecb(self.key).update(data)
        return [out[i:i + AES_BLOCK] for i in range(0, len(out), AES_BLOCK)]

    def fill(self, buf: memoryview | bytearray, offset: int, length: int | None = None) -> None:
        """Write the pattern bytes for media [offset, offset+length) into buf[0:length].

        offset and length must be multiples of 16. For speed, give buf at least 15 spare
        bytes after `length` (the cipher wants head room); otherwise a small copy is made.
        """
        view = memoryview(buf).cast("B")
        length = len(view) if length is None else length
        if offset % AES_BLOCK or length % AES_BLOCK:
            raise ValueError("offset and length must be multiples of 16")
        if self.is_zero:
            view[:length] = bytes(length)
            return
        first = offset // SEGMENT
        last = (offset + length - 1) // SEGMENT if length else first - 1
        keys = self.segment_keys(first, last - first + 1)
        pos = 0
        for i, seg in enumerate(range(first, last + 1)):
            start = max(offset, seg * SEGMENT)
            end = min(offset + length, (seg + 1) * SEGMENT)
            n = end - start
            counters = _COUNTERS[start - seg * SEGMENT:end - seg * SEGMENT]
            enc = _ecb(keys[i])
            if pos + n + AES_BLOCK - 1 <= len(view):
                enc.update_into(counters, view[pos:pos + n + AES_BLOCK - 1])
            else:
                view[pos:pos + n] = enc.update(counters)
            pos += n

    def bytes_at(self, offset: int, length: int) -> bytes:
        """The pattern for an arbitrary byte range (any alignment); for tests and reports."""
        start = offset - offset % AES_BLOCK
        end = -(-(offset + length) // AES_BLOCK) * AES_BLOCK
        out = bytearray(end - start + AES_BLOCK)
        self.fill(out, start, end - start)
        return bytes(out[offset - start:offset - start + length])
