"""RFC 8785 bytes, fast: orjson with sorted keys, floats formatted by the rfc8785 library.

For the documents the ledger accepts (keys in ASCII, so code-point order is UTF-16 order;
integers within ±(2**53 - 1); no U+0000) this gives exactly appliance.certificate.canonical's
bytes (tests/ledger/test_canonical.py checks it with generated documents) at a fraction of
the cost; a document with non-ASCII keys falls back to the reference implementation.

One canonical form end to end (intake, storage, serving, verify-log): a number is accepted
only when its RFC 8785 text reads back as the same number (I-JSON, RFC 7493 2.2). RFC 8785
writes an integral double below 1e21 without exponent ("9007199254740992"); above 2**53 - 1
that text reads back as an integer no JSON peer can hold exactly, so the stored bytes could
never be verified again: such a float is refused like an out-of-range integer, as are
NaN and the infinities. Nesting deeper than MAX_DEPTH is refused before anything recurses.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

from appliance.certificate import canonical as reference

INT_MAX = 2**53 - 1
EXPONENT_FROM = 1e21  # RFC 8785 (ECMAScript Number.toString) writes an exponent from here
MAX_DEPTH = 32  # certificates nest 4 deep, heartbeats 3


class NotCanonicalisable(ValueError):
    """The document holds a value RFC 8785 (or the ledger) cannot represent."""


def check_float(value: float) -> None:
    """Refuse a double whose RFC 8785 text would not read back as the same JSON number."""
    if value != value or value in (float("inf"), float("-inf")):
        raise NotCanonicalisable("NaN and infinite numbers are not JSON")
    if value.is_integer() and INT_MAX < abs(value) < EXPONENT_FROM:
        raise NotCanonicalisable(f"number {value!r} outside the exact range of JSON numbers "
                                 f"(I-JSON: at most 2**53 - 1)")


def check_depth(document: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than `limit` (iterative: never a RecursionError)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise NotCanonicalisable(f"nested deeper than {limit} levels")
        if type(node) is dict:
            stack.extend((v, depth + 1) for v in node.values() if type(v) in (dict, list))
        elif type(node) is list:
            stack.extend((v, depth + 1) for v in node if type(v) in (dict, list))


def _scan(obj: Any, floats: list[tuple[Any, Any, float]], depth: int = 1) -> bool:
    """Check the domain and note where floats are (container, key, value); no copies.
    Returns True when a key is not ASCII (the reference implementation must order it)."""
    if depth > MAX_DEPTH:
        raise NotCanonicalisable(f"nested deeper than {MAX_DEPTH} levels")
    fallback = False
    items = obj.items() if type(obj) is dict else enumerate(obj)
    for key, value in items:
        if type(key) is str and not key.isascii():
            fallback = True
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if not -INT_MAX <= value <= INT_MAX:
                raise NotCanonicalisable(f"integer {value} outside the exact range of JSON numbers")
        elif kind is dict or kind is list:
            fallback = _scan(value, floats, depth + 1) or fallback
        elif kind is float:
            check_float(value)
            floats.append((obj, key, value))
        else:
            raise NotCanonicalisable(f"unsupported type {kind.__name__}")
    return fallback


def _fast(document: dict[str, Any], floats: list[tuple[Any, Any, float]]) -> tuple[bytes, bytes]:
    fragments = []
    for container, key, value in floats:
        try:
            fragments.append((container, key, orjson.Fragment(rfc8785.dumps(value))))
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonicalisable(str(exc)) from None
    for container, key, fragment in fragments:
        container[key] = fragment
    try:
        option = orjson.OPT_SORT_KEYS
        whole = orjson.dumps(document, option=option)
        bare = orjson.dumps({k: v for k, v in document.items() if k != "signature"},
                            option=option)
    finally:
        for container, key, value in floats:
            container[key] = value
    return whole, bare


def has_nul(value: Any) -> bool:
    """PostgreSQL text cannot hold U+0000: the ledger refuses it anywhere in a document.
    Iterative, so a deeply nested body cannot exhaust the stack."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def signed_and_unsigned(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """(RFC 8785 bytes of the whole document, of the document without "signature")."""
    floats: list[tuple[Any, Any, float]] = []
    if not _scan(document, floats):
        whole, bare = _fast(document, floats)
    else:
        try:
            whole = reference(document)
            bare = reference({k: v for k, v in document.items() if k != "signature"})
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonicalisable(str(exc)) from None
    # U+0000 can only arrive escaped; its escape is the one place its bytes can appear.
    if b"\\u0000" in whole and has_nul(document):
        raise NotCanonicalisable("strings may not contain U+0000")
    return whole, bare
