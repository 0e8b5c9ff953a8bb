"""The keyed random stream: any range regenerates exactly; zero is zeros."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from erasure.pattern import SEGMENT, Pattern, new_key

KEY = bytes(range(16))


def test_zero_pattern_is_zeros() -> None:
    buf = bytearray(b"\xaa" * 8192)
    Pattern("zero").fill(buf, 4096)
    assert buf == bytes(8192)


def test_segment_is_aes_ctr_keystream_under_the_segment_key() -> None:
    """Segment s holds AES-128-CTR(key=AES_k(s), counter from 0): checked independently."""
    p = Pattern("random", KEY)
    for seg in (0, 1, 4097):
        seg_key = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor().update(
            seg.to_bytes(16, "big"))
        ctr = Cipher(algorithms.AES(seg_key), modes.CTR(bytes(16))).encryptor()
        expected = ctr.update(bytes(SEGMENT))
        assert p.bytes_at(seg * SEGMENT, SEGMENT) == expected


def test_any_range_equals_the_same_bytes_of_a_long_fill() -> None:
    p = Pattern("random", KEY)
    whole = p.bytes_at(0, 3 * SEGMENT + 4096)
    rng = random.Random(7)
    for _ in range(50):
        start = rng.randrange(0, len(whole) - 1)
        length = rng.randrange(1, min(len(whole) - start, SEGMENT + 100) + 1)
        assert p.bytes_at(start, length) == whole[start:start + length]


def test_fill_without_head_room_matches_fill_with_it() -> None:
    p = Pattern("random", KEY)
    tight = bytearray(2 * SEGMENT)
    roomy = bytearray(2 * SEGMENT + 64)
    p.fill(tight, SEGMENT // 2)
    p.fill(roomy, SEGMENT // 2, 2 * SEGMENT)
    assert tight == roomy[:2 * SEGMENT]


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
