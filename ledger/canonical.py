"""RFC 8785 bytes, fast: orjson with sorted keys, floats formatted by the rfc8785 library.

For the documents the ledger accepts (keys in ASCII, so code-point order is UTF-16 order;
integers within ±(2**53 - 1); no U+0000) this gives exactly appliance.certificate.canonical's
bytes (tests/ledger/test_canonical.py checks it with generated documents) at a fraction of
the cost; anything outside that domain falls back to the reference implementation.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

from appliance.certificate import canonical as reference

INT_MAX = 2**53 - 1


class NotCanonicalisable(ValueError):
    """The document holds a value RFC 8785 (or the ledger) cannot represent."""


class _Fallback(Exception):
    pass


def _scan(obj: Any, floats: list[tuple[Any, Any, float]]) -> None:
    """Check the domain and note where floats are (container, key, value); no copies."""
    items = obj.items() if type(obj) is dict else enumerate(obj)
    for key, value in items:
        if type(key) is str and not key.isascii():
            raise _Fallback
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if not -INT_MAX <= value <= INT_MAX:
                raise NotCanonicalisable(f"integer {value} outside the exact range of JSON numbers")
        elif kind is dict or kind is list:
            _scan(value, floats)
        elif kind is float:
            floats.append((obj, key, value))
        else:
            raise NotCanonicalisable(f"unsupported type {kind.__name__}")


def _fast(document: dict[str, Any]) -> tuple[bytes, bytes]:
    floats: list[tuple[Any, Any, float]] = []
    _scan(document, floats)
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
    """PostgreSQL text cannot hold U+0000: the ledger refuses it anywhere in a document."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def signed_and_unsigned(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """(RFC 8785 bytes of the whole document, of the document without "signature")."""
    try:
        whole, bare = _fast(document)
    except _Fallback:
        try:
            whole = reference(document)
            bare = reference({k: v for k, v in document.items() if k != "signature"})
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonicalisable(str(exc)) from None
    # U+0000 can only arrive escaped; its escape is the one place its bytes can appear.
    if b"\\u0000" in whole and has_nul(document):
        raise NotCanonicalisable("strings may not contain U+0000")
    return whole, bare
