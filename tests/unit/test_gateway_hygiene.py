"""The gateway's input hygiene, through the real app (no broker: accepted events wait in its outbox).

Deep nesting, lone surrogates, NaN/Infinity, NUL and bidi controls, NFD text, wrong or missing
Content-Type, empty batches and values that only a lax reading would accept: each refused with
the status and field named, or stored normalised; no input gets a 500.
"""

from __future__ import annotations

import json
import socket
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencybus.settings import Settings, load_settings
from producers.gateway import hygiene
from producers.gateway.app import create_app
from producers.publisher import Delivery
from schemas import codec

JSON = {"Content-Type": "application/json"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def violation(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "header": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2025-08-04T09:30:00+07:00",
            "recorded_at": "2025-08-04T10:00:00+07:00",
            "agency": "QLTT",
            "source_system": "qltt-hsvp",
            "province_code": "38",
        },
        "seller": {"name": "Hộ kinh doanh Lê Văn Tám", "phones": ["0912 345 678"]},
        "categories": ["COUNTERFEIT"],
        "description": "Bán mỹ phẩm giả",
        "legal_basis": {"legal_document": "Nghị định 98/2020/NĐ-CP"},
    }
    for path, value in changes.items():
        node = body
        *parents, last = path.split("__")
        for name in parents:
            node = node[name]
        node[last] = value
    return body


@pytest.fixture
def offline(tmp_path: Path, clean_env: None) -> Settings:
    """A gateway whose broker is down: what it accepts goes to its outbox, readable in the test."""
    return load_settings(
        bootstrap_servers=f"127.0.0.1:{_closed_port()}",
        data_dir=tmp_path,
        metrics_port=0,
        publish_timeout_s=0.5,
        gateway_rate_limit_per_minute=100_000,
    )


@pytest.fixture
def gateway(offline: Settings) -> Iterator[tuple[TestClient, dict[str, str], Delivery]]:
    delivery = Delivery(offline, "gateway", start_flusher=False)
    app = create_app(offline, delivery=delivery)
    auth = {"Authorization": f"Bearer {app.state.gateway.keys.add('QLTT')}", **JSON}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, auth, delivery


Client = tuple[TestClient, dict[str, str], Delivery]


def post(client: TestClient, auth: dict[str, str], body: bytes | str, batch: bool = False) -> Any:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return client.post(f"/v1/events/violation{'/batch' if batch else ''}", content=raw, headers=auth)


def paths(response: Any) -> list[str]:
    return [p["path"] for p in response.json()["problems"]]


@pytest.mark.parametrize("batch", [False, True])
def test_fifty_thousand_nested_brackets_are_400_not_a_recursion_error(gateway: Client, batch: bool) -> None:
    client, auth, _ = gateway
    for body in ("[" * 50_000 + "]" * 50_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "[" * 50_000):
        response = post(client, auth, body, batch)
        assert response.status_code == 400, response.text
        assert "nests deeper than 32 levels" in response.json()["detail"]


def test_depth_ignores_brackets_inside_strings() -> None:
    assert hygiene.depth(b'{"a": "[[[[[[[[[[{{{{{{{{", "b": [[1]]}') == 3
    assert hygiene.depth(b'["\\"[[[[", [[]]]') == 3
    assert hygiene.depth(b"[" * 100, limit=10) == 11  # stops counting past the limit


def test_a_lone_surrogate_is_refused_with_the_field_named(gateway: Client) -> None:
    client, auth, _ = gateway
    body = json.dumps(violation(), ensure_ascii=False).replace("Hộ kinh doanh", "\\ud800 kinh doanh")
    response = post(client, auth, body)
    assert response.status_code == 422, response.text
    assert paths(response) == ["seller.name"]
    assert "surrogate (U+D800)" in response.json()["problems"][0]["message"]
    # the same inside a batch names the event's index first
    response = post(client, auth, f"[{json.dumps(violation())}, {body}]", batch=True)
    assert response.status_code == 422 and paths(response) == ["1.seller.name"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000])
def test_nan_infinity_and_unrepresentable_numbers_are_refused(gateway: Client, number: str) -> None:
    client, auth, _ = gateway
    body = json.dumps(violation(fine_vnd=12345)).replace("12345", number)
    response = post(client, auth, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    ("char", "field"),
    [
        ("\x00", "description"),
        ("\u202e", "seller.name"),
        ("\u202a", "legal_basis.legal_document"),
        ("\u2066", "seller.phones.0"),
        ("\u2069", "header.source_system"),
    ],
)
def test_nul_and_bidi_controls_are_refused_with_the_field_named(
    gateway: Client, char: str, field: str
) -> None:
    client, auth, _ = gateway
    body = violation()
    node: Any = body
    *parents, last = field.split(".")
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node[name]
    if isinstance(node, list):
        node[int(last)] = char + node[int(last)]
    else:
        node[last] = "abc" + char + node[last]
    response = post(client, auth, json.dumps(body))
    assert response.status_code == 422, response.text
    assert paths(response) == [field]
    assert f"U+{ord(char):04X}" in response.json()["problems"][0]["message"]


def test_nfd_text_is_stored_as_nfc(gateway: Client) -> None:
    client, auth, delivery = gateway
    nfd = unicodedata.normalize("NFD", "Công ty TNHH Đông Á Nguyễn")
    assert nfd != unicodedata.normalize("NFC", nfd)
    body = violation(seller__name=nfd, description=unicodedata.normalize("NFD", "Hàng giả nhãn hiệu"))
    response = post(client, auth, json.dumps(body, ensure_ascii=False))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    (row,) = delivery.outbox.peek()
    record = codec.decode_message(row.event.value, row.event.headers).record
    assert record["seller"]["name"] == "Công ty TNHH Đông Á Nguyễn" == unicodedata.normalize("NFC", nfd)
    assert record["description"] == "Hàng giả nhãn hiệu"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_declared_json_is_415(gateway: Client, content_type: str | None) -> None:
    client, auth, _ = gateway
    headers = {"Authorization": auth["Authorization"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/v1/events/violation", content=json.dumps(violation()), headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"


def test_json_with_a_utf8_charset_is_accepted(gateway: Client) -> None:
    client, auth, _ = gateway
    headers = {**auth, "Content-Type": "application/json; charset=UTF-8"}
    response = client.post("/v1/events/violation", content=json.dumps(violation()), headers=headers)
    assert response.status_code == 202, response.text


def test_an_empty_batch_and_an_empty_body_are_refused(gateway: Client) -> None:
    client, auth, _ = gateway
    response = post(client, auth, "[]", batch=True)
    assert response.status_code == 422
    assert response.json()["problems"][0]["message"] == "must hold at least 1 item(s), found 0"
    assert post(client, auth, b"", batch=True).status_code == 400
    assert post(client, auth, b"  ").status_code == 400


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"fine_vnd": "12"}, "fine_vnd"),
        ({"fine_vnd": True}, "fine_vnd"),
        ({"header__occurred_at": 1754000000}, "header.occurred_at"),
        ({"header__schema_version": "1"}, "header.schema_version"),
    ],
)
def test_values_only_a_lax_reading_would_accept_are_422(
    gateway: Client, change: dict[str, Any], path: str
) -> None:
    """The OpenAPI document says integer / date-time string; so does the gateway."""
    client, auth, _ = gateway
    response = post(client, auth, json.dumps(violation(**change)))
    assert response.status_code == 422, response.text
    assert paths(response) == [path]


def test_an_unauthenticated_caller_gets_401_whatever_its_body(gateway: Client) -> None:
    client, _, _ = gateway
    for body in (b"[" * 50_000, b"{", json.dumps(violation()).encode()):
        response = client.post("/v1/events/violation", content=body, headers=JSON)
        assert response.status_code == 401


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutated(value: Any, path: list[str]) -> dict[str, Any]:
    body = violation()
    node: Any = body
    for name in path[:-1]:
        node = node[name]
    node[path[-1]] = value
    return body


_FIELDS = [
    ["header"],
    ["header", "event_id"],
    ["header", "occurred_at"],
    ["header", "agency"],
    ["header", "province_code"],
    ["seller"],
    ["seller", "phones"],
    ["seller", "shops"],
    ["seller", "websites"],
    ["categories"],
    ["fine_vnd"],
    ["legal_basis"],
    ["legal_basis", "decision_date"],
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_no_byte_string_gets_a_500(gateway: Client, raw: bytes) -> None:
    client, auth, _ = gateway
    for batch in (False, True):
        assert post(client, auth, raw, batch).status_code < 500


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_json_values, field=st.sampled_from(_FIELDS))
def test_no_json_value_in_any_field_gets_a_500(gateway: Client, value: Any, field: list[str]) -> None:
    client, auth, _ = gateway
    raw = json.dumps(_mutated(value, field), ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert post(client, auth, raw).status_code < 500


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("header__occurred_at", "0001-01-01T00:00:00+07:00"),
        ("header__recorded_at", "9999-12-31T23:59:59-07:00"),
    ],
)
def test_a_timestamp_outside_the_utc_range_is_422(gateway: Client, field: str, value: str) -> None:
    client, auth, _ = gateway
    response = post(client, auth, json.dumps(violation(**{field: value})))
    assert response.status_code == 422, response.text
    assert "out of range once converted to UTC" in response.json()["problems"][0]["message"]


def test_a_batch_above_the_limit_is_422_and_names_the_limit(gateway: Client) -> None:
    client, auth, _ = gateway
    response = post(client, auth, json.dumps([violation() for _ in range(1001)]), batch=True)
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0] == {
        "path": "",
        "message": "must hold at most 1000 item(s), found 1001",
        "found": None,
    }


_tricky_text = st.lists(
    st.sampled_from(
        ["a", "\u00e9", "e\u0301", '"', "\\", "[", "{", "]", "}", "\x00", "\u202e", "\u2067", " "]
    ),
    max_size=6,
).map("".join)
_tricky_values = st.recursive(
    st.none() | st.integers() | _tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_tricky_text, children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=_tricky_values)
def test_the_fast_clean_agrees_with_the_careful_walk(value: Any) -> None:
    fast = hygiene.clean(json.loads(json.dumps(value)))
    careful = hygiene.careful_clean(json.loads(json.dumps(value)))
    assert fast == careful


def _reference_depth(text: str) -> int:
    level = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


@settings(max_examples=300, deadline=None)
@given(value=_tricky_values, ascii_only=st.booleans())
def test_depth_agrees_with_a_character_by_character_scan(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert hygiene.depth(text.encode("utf-8"), limit=1000) == _reference_depth(text)
