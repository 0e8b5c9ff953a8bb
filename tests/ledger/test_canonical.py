"""The ledger's fast RFC 8785 path gives exactly the reference library's bytes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.certificate import canonical
from ledger.canonical import NotCanonicalisable, signed_and_unsigned

scalars = (st.none() | st.booleans()
           | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(alphabet=st.characters(blacklist_categories=["Cs"],
                                            blacklist_characters="\x00")))
keys = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
               max_size=8)
documents = st.dictionaries(
    keys, st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(keys, inner, max_size=4), max_leaves=20), max_size=8)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_same_bytes_as_rfc8785(doc: dict[str, Any]) -> None:
    doc = dict(doc)
    doc["signature"] = {"alg": "ed25519", "value": "x"}
    try:
        whole, bare = signed_and_unsigned(doc)
    except NotCanonicalisable:
        # refused only for a double whose RFC 8785 text reads back as an inexact integer
        assert any(isinstance(v, float) and v.is_integer() and 2**53 - 1 < abs(v) < 1e21
                   for v in _leaves(doc))
        return
    assert whole == canonical(doc)
    assert bare == canonical({k: v for k, v in doc.items() if k != "signature"})


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [x for v in node.values() for x in _leaves(v)]
    if isinstance(node, list):
        return [x for v in node for x in _leaves(v)]
    return [node]


def test_rfc8785_number_examples() -> None:
    # Section 3.2.2.3 / appendix B samples (295147905179352830000.0 is refused: see below).
    values = [0.0, -0.0, 5e-324, 1e21, 1e-7, 333333333.3333333, 1e23, 9007199254740991,
              -9007199254740991, 4.35, 0.002, 1e-6]
    whole, _ = signed_and_unsigned({"n": values})
    assert whole == rfc8785.dumps({"n": values})


@pytest.mark.parametrize("number", [295147905179352830000.0, 9007199254740992.0,
                                    -9007199254740994.0])
def test_integral_doubles_past_2_53_are_refused(number: float) -> None:
    """RFC 8785 writes them as integers ("295147905179352830000") that read back as
    integers outside I-JSON's exact range: the logged bytes could never verify again."""
    with pytest.raises(NotCanonicalisable):
        signed_and_unsigned({"n": number})


def test_non_ascii_keys_fall_back_to_the_reference() -> None:
    doc = {"€": 1, "\U0001f600": 2, "\ufb33": 3, "a": [1.0]}
    assert signed_and_unsigned(doc)[0] == canonical(doc)


@pytest.mark.parametrize("bad", [{"a": 2**60}, {"a": float("nan")}, {"a": "x\x00"},
                                 {"é": "x\x00"}, {"a": {1, 2}}])
def test_refused_values(bad: dict[str, Any]) -> None:
    with pytest.raises(NotCanonicalisable):
        signed_and_unsigned(bad)
