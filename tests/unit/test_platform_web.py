"""The platform service's HTTP endpoint: bearer token, deliveries in (200 whatever the verdict), answers."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agencybus import signing
from consumers.platform.answers import AnswerSigner
from consumers.platform.intake import Intake
from consumers.platform.store import Register
from consumers.platform.verification import Policy
from consumers.platform.web import Context, create_app
from schemas import reference
from schemas.event_types import TAKEDOWN_REQUEST
from tests.unit.platform_helpers import NOW, make_keys, request_record, signed

TOKEN = "t0ken-for-the-test"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return make_keys(tmp_path / "keys", "QLTT", "SHOPEE")


@pytest.fixture
def client(keys: Path, tmp_path: Path) -> TestClient:
    register = Register.open(f"sqlite:///{tmp_path / 'platform.db'}")
    policy = Policy("SHOPEE", frozenset({"QLTT"}), reference.takedown_agencies())
    signer = AnswerSigner.from_keys_dir(keys, "SHOPEE")
    intake = Intake(register, policy, signing.Keyring.load(keys), signer)
    return TestClient(create_app(Context(register, intake, signer, TOKEN, lambda: NOW)))


def delivery(value: bytes) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": "x",
        "source": "/agencies/QLTT",
        "type": TAKEDOWN_REQUEST.ce_type,
        "datacontenttype": "application/avro",
        "data_base64": base64.b64encode(value).decode(),
    }


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_every_route_but_health_needs_the_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/takedown-requests").status_code == 401
    wrong = client.get("/takedown-requests", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "AGENCYBUS_PLATFORM_API_TOKEN" in wrong.json()["detail"]


def test_a_delivery_is_recorded_listed_and_answered(client: TestClient, keys: Path) -> None:
    got = client.post("/takedown-requests", json=delivery(signed(request_record(), keys)), headers=AUTH)
    assert got.status_code == 200 and got.json()["status"] == "RECEIVED"
    number = got.json()["register_number"]
    [listed] = client.get("/takedown-requests?status=received", headers=AUTH).json()
    assert listed["standing"] == "OPEN" and listed["agency"] == "QLTT"
    answered = client.post(
        f"/takedown-requests/{number}/answer",
        json={"outcome": "needs-info", "officer": "Trần Minh Khoa", "reason": "Gửi kèm quyết định xử phạt"},
        headers=AUTH,
    )
    assert answered.status_code == 200, answered.text
    shown = client.get(f"/takedown-requests/{number}", headers=AUTH).json()
    assert shown["status"] == "NEEDS_INFO" and [a["action"] for a in shown["audit"]] == [
        "RECEIVED",
        "ANSWER_NEEDS_INFO",
    ]
    again = client.post(
        f"/takedown-requests/{number}/answer", json={"outcome": "removed", "officer": "x"}, headers=AUTH
    )
    assert again.status_code == 422 and "only a RECEIVED request" in again.json()["detail"]


def test_a_refused_delivery_is_still_a_200_so_the_forwarder_moves_on(
    client: TestClient, tmp_path: Path
) -> None:
    forged = signed(request_record(), make_keys(tmp_path / "attacker", "QLTT"))
    got = client.post("/takedown-requests", json=delivery(forged), headers=AUTH)
    assert got.status_code == 200 and got.json()["reason_code"] == "SIGNATURE_INVALID"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "vn.gov.agencybus.violation.v1"}, "expected 'vn.gov.agencybus.takedown-request.v1'"),
        ({"type": TAKEDOWN_REQUEST.ce_type}, "data_base64: expected the request's signed Avro bytes"),
        ({"type": TAKEDOWN_REQUEST.ce_type, "data_base64": "@@@"}, "not valid base64"),
    ],
)
def test_a_body_that_is_no_delivery_is_a_422_naming_the_field(
    client: TestClient, body: dict, message: str
) -> None:
    got = client.post("/takedown-requests", json=body, headers=AUTH)
    assert got.status_code == 422 and message in got.json()["detail"]
