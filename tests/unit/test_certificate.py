"""ardoise.certificate/1: RFC 8785 bytes, Ed25519 signature, JSON Schema."""

from __future__ import annotations

import base64
import copy
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import certificate, certify
from appliance.certificate import CertificateError, canonical
from tests.unit import certsample

# --- RFC 8785 against the RFC's own examples ----------------------------------------------


def test_rfc8785_section_3_2_3_sample() -> None:
    # RFC 8785 §3.2.2/§3.2.3: the sample input and its canonical form
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,'
                '1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonical(json.loads(text)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_property_sorting() -> None:
    # sorted by UTF-16 code units: \r, "1", U+0080, U+00F6, U+20AC, U+1F600 (D83D...), U+FB33
    doc = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
           "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
           "\u00f6": "Latin Small Letter O With Diaeresis"}
    values = [v for _, v in json.loads(canonical(doc)).items()]
    assert values == ["Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis",
                      "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"]


# RFC 8785 Appendix B: IEEE 754 bit patterns and their ES6 serialisation
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonical([value]) == f"[{expected}]".encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000"])
def test_rfc8785_rejects_nan_and_infinity(bits: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the library's own error type
        canonical([struct.unpack(">d", bytes.fromhex(bits))[0]])


# --- signatures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signed(key: Ed25519PrivateKey) -> dict:
    return certify.sign_document(certsample.document(), key)


def test_signature_round_trip(signed: dict, key: Ed25519PrivateKey) -> None:
    assert certificate.verify(signed, key.public_key()) is not None
    sig = signed["signature"]
    assert sig["alg"] == "ed25519"
    assert sig["key_id"] == signed["appliance"]["key_id"] == certificate.key_id(key.public_key())
    # the signature covers the RFC 8785 bytes of the document without "signature"
    key.public_key().verify(base64.b64decode(sig["value"]),
                            canonical({k: v for k, v in signed.items() if k != "signature"}))


def test_round_trip_through_the_file(signed: dict, key: Ed25519PrivateKey, tmp_path) -> None:
    from appliance.spool import encode

    path = tmp_path / "c.json"
    path.write_bytes(encode(signed))
    certificate.verify(certificate.load(path), key.public_key())


def test_every_flipped_bit_of_the_signature_fails(signed: dict, key: Ed25519PrivateKey) -> None:
    raw = base64.b64decode(signed["signature"]["value"])
    for i in range(len(raw)):
        bad = copy.deepcopy(signed)
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        bad["signature"]["value"] = base64.b64encode(bytes(flipped)).decode()
        with pytest.raises(CertificateError):
            certificate.verify_signature(bad, key.public_key())


def test_a_flipped_byte_in_the_file_fails(signed: dict, key: Ed25519PrivateKey, tmp_path) -> None:
    from appliance.spool import encode

    data = bytearray(encode(signed))
    offset = data.index(b"WD-") if b"WD-" in data else data.index(b"Surface Pro 7")
    data[offset] ^= 0x01  # 'S' -> 'R'
    path = tmp_path / "c.json"
    path.write_bytes(bytes(data))
    with pytest.raises(CertificateError):
        certificate.verify(certificate.load(path), key.public_key())


@pytest.mark.parametrize(("path", "value"), [
    (("sanitization", "status"), "failed"),
    (("media", "serial"), "X9PPT1MFQBB2"),
    (("verification", "bytes_checked"), 25606051841),
    (("issued_at",), "2026-11-25T20:00:00Z"),
    (("image",), None),
    (("operator",), "Elodie Tremblay"),
])
def test_a_changed_field_fails(signed: dict, key: Ed25519PrivateKey, path: tuple, value) -> None:
    bad = copy.deepcopy(signed)
    target = bad
    for part in path[:-1]:
        target = target[part]
    assert target[path[-1]] != value
    target[path[-1]] = value
    with pytest.raises(CertificateError):
        certificate.verify(bad, key.public_key())


def test_another_key_fails(signed: dict) -> None:
    with pytest.raises(CertificateError, match="unknown key"):
        certificate.verify(signed, Ed25519PrivateKey.generate().public_key())


# --- schema --------------------------------------------------------------------------------


def test_signed_document_matches_the_schema(signed: dict) -> None:
    assert certificate.schema_errors(signed) == []


@pytest.mark.parametrize("version", ["ardoise.certificate/2", "ardoise.certificate/0", None])
def test_schema_rejects_unknown_versions(signed: dict, version) -> None:
    signed["schema"] = version
    with pytest.raises(CertificateError, match="unknown certificate version"):
        certificate.validate(signed)


@pytest.mark.parametrize("field", ["id", "issued_at", "host", "media", "sanitization",
                                   "verification", "image", "destination", "signature"])
def test_schema_rejects_missing_fields(signed: dict, field: str) -> None:
    del signed[field]
    with pytest.raises(CertificateError, match=f"'{field}' is a required property"):
        certificate.validate(signed)


@pytest.mark.parametrize("section,field", [("media", "serial"), ("sanitization", "method"),
                                           ("verification", "result"), ("host", "uuid")])
def test_schema_rejects_missing_nested_fields(signed: dict, section: str, field: str) -> None:
    del signed[section][field]
    with pytest.raises(CertificateError, match=f"{section}: '{field}' is a required property"):
        certificate.validate(signed)


def test_schema_rejects_unknown_keys(signed: dict) -> None:
    signed["media"]["colour"] = "black"
    with pytest.raises(CertificateError, match="Additional properties"):
        certificate.validate(signed)
    del signed["media"]["colour"]
    signed["extra"] = 1
    with pytest.raises(CertificateError, match="Additional properties"):
        certificate.validate(signed)


def test_schema_refuses_erased_without_verification_evidence(signed: dict) -> None:
    signed["verification"].update(mode="none", result="not-done", bytes_checked=0)
    with pytest.raises(CertificateError, match="verification"):
        certificate.validate(signed)


def test_schema_file_is_draft_2020_12() -> None:
    schema = json.loads(certificate.SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema"] == {"const": "ardoise.certificate/1"}
