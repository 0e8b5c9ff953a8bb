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


def _prepare(obj: Any) -> Any:
    kind = type(obj)
    if kind is str:
        if "\x00" in obj:
            raise NotCanonicalisable("strings may not contain U+0000")
        return obj
    if obj is None or kind is bool:
        return obj
    if kind is int:
        if not -INT_MAX <= obj <= INT_MAX:
            raise NotCanonicalisable(f"integer {obj} outside the exact range of JSON numbers")
        return obj
    if kind is float:
        try:
            return orjson.Fragment(rfc8785.dumps(obj))
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonicalisable(str(exc)) from None
    if kind is dict:
        out = {}
        for key, value in obj.items():
            if type(key) is not str or not key.isascii():
                raise _Fallback
            if "\x00" in key:
                raise NotCanonicalisable("keys may not contain U+0000")
            out[key] = _prepare(value)
        return out
    if kind is list:
        return [_prepare(v) for v in obj]
    raise NotCanonicalisable(f"unsupported type {kind.__name__}")


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
        prepared = _prepare(document)
    except _Fallback:
        try:
            whole = reference(document)
            bare = reference({k: v for k, v in document.items() if k != "signature"})
        except rfc8785.CanonicalizationError as exc:
            raise NotCanonicalisable(str(exc)) from None
        if has_nul(document):
            raise NotCanonicalisable("strings may not contain U+0000") from None
        return whole, bare
    option = orjson.OPT_SORT_KEYS
    whole = orjson.dumps(prepared, option=option)
    bare = orjson.dumps({k: v for k, v in prepared.items() if k != "signature"}, option=option)
    return whole, bare
