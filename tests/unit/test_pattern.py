"""The keyed random stream: any range regenerates exactly; zero is zeros."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from erasure.pattern import PIECE, Pattern, new_key

KEY = bytes(range(16))


def test_zero_pattern_is_zeros() -> None:
    buf = bytearray(b"\xaa" * 8192)
    Pattern("zero").fill(buf, 4096)
    assert buf == bytes(8192)


def test_block_j_is_aes_of_j_under_the_key() -> None:
    """Checked independently of CTR mode: 16 bytes at offset 16*j are AES_k(j) (ECB)."""
    p = Pattern("random", KEY)
    ecb = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    for j in (0, 1, 65535, 65536, 1 << 40, (1 << 64) - 1, 1 << 64):
        assert p.bytes_at(16 * j, 16) == ecb.update(j.to_bytes(16, "big"))


def test_any_range_equals_the_same_bytes_of_a_long_fill() -> None:
    p = Pattern("random", KEY)
    whole = p.bytes_at(0, 3 * PIECE + 4096)
    rng = random.Random(7)
    for _ in range(50):
        start = rng.randrange(0, len(whole) - 1)
        length = rng.randrange(1, min(len(whole) - start, PIECE + 100) + 1)
        assert p.bytes_at(start, length) == whole[start:start + length]


def test_fill_without_head_room_matches_fill_with_it() -> None:
    p = Pattern("random", KEY)
    tight = bytearray(2 * PIECE)
    roomy = bytearray(2 * PIECE + 64)
    p.fill(tight, PIECE // 2)
    p.fill(roomy, PIECE // 2, 2 * PIECE)
    assert tight == roomy[:2 * PIECE]


def test_keys_give_different_streams_and_the_stream_looks_random() -> None:
    a = Pattern("random", new_key()).bytes_at(0, 65536)
    b = Pattern("random", new_key()).bytes_at(0, 65536)
    assert a != b
    assert len(set(a)) == 256  # every byte value occurs in 64 KiB of a keystream
    assert a.count(0) < 65536 // 128


def test_bad_use_is_rejected() -> None:
    with pytest.raises(ValueError):
        Pattern("ones")
    with pytest.raises(ValueError):
        Pattern("random")
    with pytest.raises(ValueError):
        Pattern("random", KEY).fill(bytearray(32), 8)
