"""AccessToken2 (007) against the public vectors: Agora's tests and official builders."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import pytest

from service.agora import accesstoken2
from service.agora.accesstoken2 import Service, ServiceType, TokenFormatError
from tests.helpers import APP_ID, CERTIFICATE

CLASSIC_ZLIB = (
    not zlib.ZLIB_RUNTIME_VERSION.startswith("2") and "ng" not in zlib.ZLIB_RUNTIME_VERSION
)


def _load_vectors() -> list[dict[str, Any]]:
    import json
    from pathlib import Path

    path = Path(__file__).parents[1] / "vectors" / "agora-public.json"
    loaded: list[dict[str, Any]] = json.loads(path.read_text())
    return loaded


VECTORS = _load_vectors()


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["id"] for v in vectors]


def _service(spec: dict[str, Any]) -> Service:
    fields: dict[str, Any] = {
        k: spec[k]
        for k in ("channel", "uid", "user_id", "room_uuid", "user_uuid", "role")
        if k in spec
    }
    if "permissions" in spec:
        fields["permissions"] = {
            int(resource): {int(perm): tuple(names) for perm, names in perms.items()}
            for resource, perms in spec["permissions"].items()
        }
    privileges = {int(pid): seconds for pid, seconds in spec["privileges"].items()}
    return Service(spec["type"], privileges, **fields)


def _build(inputs: dict[str, Any]) -> str:
    return accesstoken2.build_token(
        inputs["app_id"],
        inputs["app_certificate"],
        issue_ts=inputs["issue_ts"],
        expire=inputs["token_expire"],
        salt=inputs["salt"],
        services=[_service(s) for s in inputs["services"]],
    )


def _inflate(token: str) -> bytes:
    return zlib.decompress(base64.b64decode(token[3:]))


# Current-layout vectors with a known certificate and at least one service. The one
# historical vector left out packs services in insertion order, which Agora's builders
# stopped doing in 2023; see test_services_are_packed_in_type_order.
BUILDABLE = [
    v
    for v in VECTORS
    if v["version"] == "007"
    and v["kind"] in ("accesstoken2", "builder-007")
    and v["inputs"].get("app_certificate")
    and v["inputs"]["services"]
    and v["id"] != "public-test-historical/007/044-AccessToken2Test"
]
EXACT = [v for v in BUILDABLE if v.get("cpython_zlib_reencode_equals_expected")]
PARSEABLE = [
    v
    for v in VECTORS
    if v["version"] == "007"
    and v["kind"] != "malformed"
    and (v.get("inputs") or {}).get("app_certificate")
]
MALFORMED = [v for v in VECTORS if v["kind"] == "malformed"]


def test_vectors_cover_the_official_builders() -> None:
    assert len(BUILDABLE) >= 60
    assert len(EXACT) >= 16


@pytest.mark.parametrize("vector", BUILDABLE, ids=_ids(BUILDABLE))
def test_payload_equals_the_vector_payload(vector: dict[str, Any]) -> None:
    assert _inflate(_build(vector["inputs"])).hex() == vector["payload_hex"]


@pytest.mark.skipif(
    not CLASSIC_ZLIB, reason=f"zlib {zlib.ZLIB_RUNTIME_VERSION} is not classic zlib"
)
@pytest.mark.parametrize("vector", EXACT, ids=_ids(EXACT))
def test_token_string_equals_the_vector_where_cpython_zlib_reproduces_it(
    vector: dict[str, Any],
) -> None:
    assert _build(vector["inputs"]) == vector["expected_token"]


@pytest.mark.parametrize("vector", PARSEABLE, ids=_ids(PARSEABLE))
def test_every_public_token_parses_and_its_signature_verifies(vector: dict[str, Any]) -> None:
    parsed = accesstoken2.parse_token(vector["expected_token"])
    assert parsed.verify_signature(vector["inputs"]["app_certificate"])
    assert parsed.app_id == vector["inputs"]["app_id"]
    assert parsed.issue_ts == vector["inputs"]["issue_ts"]
    assert parsed.salt == vector["inputs"]["salt"]


@pytest.mark.parametrize("vector", BUILDABLE, ids=_ids(BUILDABLE))
def test_parser_reads_back_every_service_field(vector: dict[str, Any]) -> None:
    parsed = accesstoken2.parse_token(vector["expected_token"])
    assert list(parsed.services) == [_service(s) for s in vector["inputs"]["services"]]


@pytest.mark.parametrize("vector", MALFORMED, ids=_ids(MALFORMED))
def test_malformed_public_vectors_are_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(TokenFormatError):
        accesstoken2.parse_token(vector["expected_token"])


@pytest.mark.parametrize(
    "token", ["", "00", "007", "007invalid", "006invalid", "007!!!!", "007" + "A" * 8]
)
def test_garbage_is_a_format_error_not_a_crash(token: str) -> None:
    with pytest.raises(TokenFormatError):
        accesstoken2.parse_token(token)


def test_a_zip_bomb_is_refused() -> None:
    bomb = "007" + base64.b64encode(zlib.compress(b"\x20\x00" + b"\x00" * 10_000_000)).decode()
    with pytest.raises(TokenFormatError):
        accesstoken2.parse_token(bomb)


def _rtc_token(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "issue_ts": 1111111,
        "expire": 600,
        "salt": 1,
        "services": [accesstoken2.rtc_service("demo", "42", {1: 600})],
    }
    arguments.update(overrides)
    return accesstoken2.build_token(APP_ID, CERTIFICATE, **arguments)


def test_signature_fails_with_another_certificate() -> None:
    parsed = accesstoken2.parse_token(_rtc_token())
    assert not parsed.verify_signature("5CFd2fd1755d40ecb72977518be15d3c")
    assert not parsed.verify_signature("a" * 32)
    assert not parsed.verify_signature("invalid")
    assert not parsed.verify_signature("z" * 32)


def test_certificate_case_matters_because_it_is_signed_as_text() -> None:
    assert not accesstoken2.parse_token(_rtc_token()).verify_signature(CERTIFICATE.lower())


def test_a_tampered_payload_fails_verification() -> None:
    payload = bytearray(_inflate(_rtc_token()))
    payload[-1] ^= 0x01  # the last byte of the uid
    tampered = "007" + base64.b64encode(zlib.compress(bytes(payload))).decode()
    assert not accesstoken2.parse_token(tampered).verify_signature(CERTIFICATE)


def test_services_are_packed_in_type_order_whatever_order_they_are_given() -> None:
    rtm = accesstoken2.rtm_service("alice", 600)
    rtc = accesstoken2.rtc_service("demo", "alice", {1: 600})
    parsed = accesstoken2.parse_token(_rtc_token(services=[rtm, rtc]))
    assert [s.type for s in parsed.services] == [ServiceType.RTC, ServiceType.RTM]


def test_a_token_without_services_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one service"):
        _rtc_token(services=[])


@pytest.mark.parametrize(
    "app_id", ["", "970CA35de60c44645bbae8a215061b3", "970CA35de60c44645bbae8a215061b3g"]
)
def test_a_malformed_app_id_is_refused(app_id: str) -> None:
    with pytest.raises(ValueError, match="app id"):
        accesstoken2.build_token(
            app_id,
            CERTIFICATE,
            issue_ts=1,
            expire=600,
            salt=1,
            services=[accesstoken2.rtm_service("a", 1)],
        )


def test_an_unknown_service_type_stops_parsing_but_the_signature_still_holds() -> None:
    token = _rtc_token()
    payload = _inflate(token)
    # Append a service of a type this parser does not know, and re-sign the result.
    signing_info = payload[34:]
    count_at = 2 + 32 + 4 + 4 + 4
    signing_info = (
        signing_info[:count_at]
        + (2).to_bytes(2, "little")
        + signing_info[count_at + 2 :]
        + (999).to_bytes(2, "little")
        + b"\x00\x00"
    )
    import hmac

    key = hmac.digest(
        (1).to_bytes(4, "little"),
        hmac.digest((1111111).to_bytes(4, "little"), CERTIFICATE.encode(), "sha256"),
        "sha256",
    )
    signature = hmac.digest(key, signing_info, "sha256")
    forged = (
        "007" + base64.b64encode(zlib.compress(b"\x20\x00" + signature + signing_info)).decode()
    )
    parsed = accesstoken2.parse_token(forged)
    assert [s.type for s in parsed.services] == [ServiceType.RTC]
    assert parsed.unknown_service_type == 999
    assert parsed.verify_signature(CERTIFICATE)
