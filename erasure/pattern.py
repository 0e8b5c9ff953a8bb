"""Overwrite patterns: zero, and a keyed random stream any range of which can be regenerated.

The random stream is the AES-128-CTR keystream of a random 16-byte key `k` (kept for
verification, never written to the disk), with the counter derived from the byte offset:
the 16 bytes at media offset 16·j are AES_k(j), j as a 128-bit big-endian integer.
Verification regenerates exactly what was written from (k, offset) without storing it.
OpenSSL computes it with AES-NI; it is produced in 1 MiB pieces from a shared zero source
that stays in the CPU cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PIECE = 1 << 20
AES_BLOCK = 16
PATTERNS = ("zero", "random")

_ZEROS = bytes(PIECE)


def new_key() -> bytes:
    return os.urandom(16)


@dataclass
class Pattern:
    """`name` zero|random; `key` the 16-byte key of the random stream."""

    name: str = "zero"
    key: bytes | None = None

    def __post_init__(self) -> None:
        if self.name not in PATTERNS:
            raise ValueError(f"unknown pattern {self.name!r}")
        if self.name == "random":
            if self.key is None or len(self.key) != 16:
                raise ValueError("the random pattern needs a 16-byte key")

    @property
    def is_zero(self) -> bool:
        return self.name == "zero"

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
        assert self.key is not None
        counter = (offset // AES_BLOCK).to_bytes(AES_BLOCK, "big")
        enc = Cipher(algorithms.AES(self.key), modes.CTR(counter)).encryptor()
        for pos in range(0, length, PIECE):
            n = min(PIECE, length - pos)
            source = _ZEROS if n == PIECE else _ZEROS[:n]
            if pos + n + AES_BLOCK - 1 <= len(view):
                enc.update_into(source, view[pos:pos + n + AES_BLOCK - 1])
            else:
                view[pos:pos + n] = enc.update(source)

    def bytes_at(self, offset: int, length: int) -> bytes:
        """The pattern for an arbitrary byte range (any alignment); for tests and reports."""
        start = offset - offset % AES_BLOCK
        end = -(-(offset + length) // AES_BLOCK) * AES_BLOCK
        out = bytearray(end - start + AES_BLOCK)
        self.fill(out, start, end - start)
        return bytes(out[offset - start:offset - start + length])
