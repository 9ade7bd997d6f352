"""The HTTP gateway against the real broker: 202 and read back, 401, 403, 422 per field, 413, 429, replays."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agencybus.settings import Settings
from producers.gateway.app import create_app
from schemas import codec, topics
from tests.helpers import consume_until, header, wait_for_event_ids

THUE_VIOLATIONS = topics.agency_topic("violation", "THUE").name
CA_REQUESTS = topics.agency_topic("payment-block-request", "CA").name

pytestmark = pytest.mark.broker


def violation_json(agency: str = "THUE", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "header": {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2025-08-04T09:30:00+07:00",
            "recorded_at": "2025-08-04T10:00:00+07:00",
            "agency": agency,
            "source_system": "thue-tms",
            "province_code": "38",
        },
        "seller": {"name": "Công ty TNHH Đông Á", "tax_codes": ["2801987654"], "phones": ["0912 345 678"]},
        "categories": ["COUNTERFEIT"],
        "description": "Hóa đơn đầu vào không hợp pháp cho hàng giả",
        "legal_basis": {"legal_document": "Nghị định 125/2020/NĐ-CP"},
    }
    for path, value in changes.items():
        node = body
        *parents, last = path.split("__")
        for name in parents:
            node = node[name]
        node[last] = value
    return body


@pytest.fixture
def gateway(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    limited = settings.model_copy(
        update={"gateway_rate_limit_per_minute": 30, "gateway_max_body_bytes": 64 * 1024}
    )
    app = create_app(limited)
    keys = app.state.gateway.keys
    auth = {"Authorization": f"Bearer {keys.add('THUE')}"}
    with TestClient(app) as client:
        yield client, auth


def test_event_is_accepted_and_read_back_from_the_topic(
    gateway: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, auth = gateway
    body = violation_json()
    response = client.post("/v1/events/violation", json=body, headers=auth)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["event_id"] == body["header"]["event_id"] and answer["status"] == "delivered"
    record = wait_for_event_ids(settings, THUE_VIOLATIONS, [answer["event_id"]])[answer["event_id"]]
    decoded = codec.decode_message(record.value, record.headers)
    assert decoded.record["seller"]["tax_codes"] == ["2801987654"]
    assert decoded.record["seller"]["phones"] == ["+84912345678"]


def test_batch_is_accepted_and_read_back(
    gateway: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, auth = gateway
    bodies = [violation_json() for _ in range(25)]
    response = client.post("/v1/events/violation/batch", json=bodies, headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["delivered"] == 25
    wait_for_event_ids(settings, THUE_VIOLATIONS, [b["header"]["event_id"] for b in bodies])


def test_wrong_or_missing_key_is_401(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = gateway
    wrong = auth["Authorization"][:-4] + "AAAA"
    assert (
        client.post(
            "/v1/events/violation", json=violation_json(), headers={"Authorization": wrong}
        ).status_code
        == 401
    )
    response = client.post("/v1/events/violation", json=violation_json())
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_other_agencys_event_is_403(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = gateway
    response = client.post("/v1/events/violation", json=violation_json(agency="QLTT"), headers=auth)
    assert response.status_code == 403
    assert response.json()["problems"] == [
        {"path": "header.agency", "message": "must be THUE", "found": "QLTT"}
    ]


def test_every_invalid_field_is_named_in_the_422(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = gateway
    body = violation_json(
        header__occurred_at="04/08/2025",
        seller__tax_codes=["28019"],
        categories=["FAKE"],
    )
    del body["description"]
    response = client.post("/v1/events/violation", json=body, headers=auth)
    assert response.status_code == 422
    problems = {p["path"]: p for p in response.json()["problems"]}
    assert set(problems) == {"header.occurred_at", "seller.tax_codes.0", "categories.0", "description"}
    assert problems["seller.tax_codes.0"]["found"] == "28019"
    assert "10 digits" in problems["seller.tax_codes.0"]["message"]
    assert problems["description"]["message"] == "this field is required"


def test_batch_422_paths_start_with_the_index(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = gateway
    bodies = [violation_json(), violation_json(seller__phones=["12"])]
    response = client.post("/v1/events/violation/batch", json=bodies, headers=auth)
    assert response.status_code == 422
    assert [p["path"] for p in response.json()["problems"]] == ["1.seller.phones.0"]


def test_oversized_body_is_413(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = gateway
    bodies = [violation_json(description="x" * 2000) for _ in range(40)]  # ~100 KB > 64 KB
    response = client.post("/v1/events/violation/batch", content=json.dumps(bodies), headers=auth)
    assert response.status_code == 413
    assert "65536" in response.json()["detail"]


def test_idempotency_key_and_event_id_replays_return_the_first_answer(
    gateway: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = gateway
    body = violation_json()
    headers = {**auth, "Idempotency-Key": "req-42"}
    first = client.post("/v1/events/violation", json=body, headers=headers)
    again = client.post("/v1/events/violation", json=body, headers=headers)  # same key, same body
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Idempotent-Replay"] == "true"
    same_event = client.post("/v1/events/violation", json=body, headers=auth)  # no key, same event_id
    assert same_event.status_code == 202 and same_event.json() == first.json()


def test_a_different_body_under_a_used_idempotency_key_is_409_and_says_why(
    gateway: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, auth = gateway
    headers = {**auth, "Idempotency-Key": "req-43", "Content-Type": "application/json"}
    first_raw = json.dumps(violation_json()).encode()
    other = violation_json()
    first = client.post("/v1/events/violation", content=first_raw, headers=headers)
    assert first.status_code == 202, first.text
    reused = client.post("/v1/events/violation", json=other, headers=headers)
    assert reused.status_code == 409
    answer = reused.json()
    assert answer["error"] == "idempotency_key_reused"
    assert "'req-43'" in answer["detail"] and hashlib.sha256(first_raw).hexdigest() in answer["detail"]
    assert "new key" in answer["detail"]
    # nothing of the refused body was published: its event_id is new to the gateway afterwards
    fresh = client.post("/v1/events/violation", json=other, headers=auth)
    assert fresh.status_code == 202 and fresh.json()["status"] == "delivered"
    # the binding survives a restart of the gateway (answers are kept in its data dir)
    restarted = create_app(settings.model_copy(update={"gateway_rate_limit_per_minute": 30}))
    with TestClient(restarted) as client2:
        again = client2.post("/v1/events/violation", json=other, headers=headers)
        assert again.status_code == 409
        replay = client2.post("/v1/events/violation", content=first_raw, headers=headers)
        assert replay.status_code == 202 and replay.json() == first.json()


def test_same_event_id_from_another_agency_is_that_agencys_own_event(
    gateway: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    """QLTT posts event S; CA posts a different event S: CA's is accepted and sent, not a 'duplicate'."""
    client, _ = gateway
    keys = client.app.state.gateway.keys  # type: ignore[attr-defined]
    qltt = {"Authorization": f"Bearer {keys.add('QLTT')}"}
    ca = {"Authorization": f"Bearer {keys.add('CA')}"}
    event_id = str(uuid.uuid4())
    first = client.post(
        "/v1/events/violation", json=violation_json("QLTT", header__event_id=event_id), headers=qltt
    )
    second = client.post(
        "/v1/events/violation",
        json=violation_json("CA", header__event_id=event_id, description="Vụ việc khác của công an"),
        headers=ca,
    )
    assert first.status_code == second.status_code == 202, second.text
    assert first.json()["status"] == second.json()["status"] == "delivered"
    where = [(r.json()["topic"], r.json()["partition"], r.json()["offset"]) for r in (first, second)]
    assert where[0] != where[1]  # two records, not one answer given twice
    ca_topic = topics.agency_topic("violation", "CA").name
    record = wait_for_event_ids(settings, ca_topic, [event_id])[event_id]
    assert (
        codec.decode_message(record.value, record.headers).record["description"] == "Vụ việc khác của công an"
    )
    # the same agency sending its own event S again is still a replay of its first answer
    replay = client.post(
        "/v1/events/violation", json=violation_json("CA", header__event_id=event_id), headers=ca
    )
    assert replay.status_code == 202 and replay.json() == second.json()


def test_rate_limit_is_429_with_retry_after(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = gateway
    auth = {**auth, "Content-Type": "application/json"}
    statuses = [
        client.post("/v1/events/violation", content=b"{", headers=auth).status_code for _ in range(31)
    ]
    assert statuses[:30] == [400] * 30
    assert statuses[30] == 429
    response = client.post("/v1/events/violation", content=b"{", headers=auth)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


def test_health_ready_metrics_and_openapi(gateway: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = gateway
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["broker"] == "reachable"
    assert "agencybus_gateway_requests_total" in client.get("/metrics").text
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/v1/events/tax-anomaly/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["items"] == {"$ref": "#/components/schemas/TaxAnomalyDetected"}
    assert {"TaxAnomalyDetected", "SellerRef", "EventHeader", "PaymentBlockRequested"} <= set(
        doc["components"]["schemas"]
    )


def test_payment_block_request_without_gateway_key_is_503_and_with_key_is_signed(
    gateway: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    from agencybus.signing import Keyring, generate_keypair, verify_message

    client, _ = gateway
    auth = {"X-API-Key": client.app.state.gateway.keys.add("CA")}  # type: ignore[attr-defined]
    event_id = str(uuid.uuid4())
    body: dict[str, Any] = {
        "header": {
            "event_id": event_id,
            "occurred_at": "2025-08-20T09:00:00+07:00",
            "recorded_at": "2025-08-20T09:05:00+07:00",
            "agency": "CA",
            "source_system": "ca-hsdt",
            "province_code": "38",
        },
        "seller": {"bank_accounts": [{"bin": "970422", "account_number": "0987654321001"}]},
        "request_id": str(uuid.uuid4()),
        "targets": [
            {"target_id": "T1", "kind": "BANK_ACCOUNT", "bin": "970422", "account_number": "0987654321001"}
        ],
        "reason": "Tạm dừng giao dịch phục vụ điều tra",
        "legal_basis": {"legal_document": "Bộ luật Tố tụng hình sự 2015"},
        "valid_from": "2025-08-20T09:00:00+07:00",
        "valid_until": "2025-11-20T09:00:00+07:00",
        "requested_by": "Lê Minh Quân",
    }
    missing = client.post("/v1/events/payment-block-request", json=body, headers=auth)
    assert missing.status_code == 503 and "agencybus keys generate --agency CA" in missing.json()["detail"]
    generate_keypair("CA", settings.resolved_keys_dir)
    accepted = client.post("/v1/events/payment-block-request", json=body, headers=auth)
    assert accepted.status_code == 202, accepted.text
    record = wait_for_event_ids(settings, CA_REQUESTS, [event_id])[event_id]
    verify_message(record.value, Keyring.load(settings.resolved_keys_dir), "CA")


def test_a_full_outbox_disk_is_a_503_naming_the_file_and_a_retry_sends_nothing_twice(
    settings: Settings,
) -> None:
    """The SDK's OutboxWriteFailed after the bus acknowledged a batch: 503 with the file and the
    accepted ids, never a bare 500; the same body again is answered as accepted, not re-sent."""
    app = create_app(settings.model_copy(update={"gateway_rate_limit_per_minute": 1000}))
    gateway = app.state.gateway
    auth = {"Authorization": f"Bearer {gateway.keys.add('THUE')}"}
    box = gateway.delivery.outbox
    db = box._db  # fault injection on the outbox's own connection: a real SQLITE_FULL
    bodies = [violation_json() for _ in range(200)]
    ids = [b["header"]["event_id"] for b in bodies]
    with TestClient(app) as client:
        box.checkpoint()
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        try:
            full = client.post("/v1/events/violation/batch", json=bodies, headers=auth)
        finally:
            db.execute("PRAGMA max_page_count = 1073741823")
        assert full.status_code == 503, full.text
        problem = full.json()
        assert problem["error"] == "outbox_write_failed"
        assert str(box.path) in problem["detail"] and ids[0] in problem["detail"]
        again = client.post("/v1/events/violation/batch", json=bodies, headers=auth)
        assert again.status_code == 202, again.text
    wait_for_event_ids(settings, THUE_VIOLATIONS, ids)  # every one arrived
    wanted = set(ids)
    with pytest.raises(AssertionError):  # and none twice: reading on never finds one more
        consume_until(
            settings,
            THUE_VIOLATIONS,
            lambda kept: len(kept) > len(wanted),
            timeout=5,
            keep=lambda r: (header(r, "ce_id") or b"").decode() in wanted,
        )
