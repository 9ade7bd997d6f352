"""The gateway's OpenAPI document: generated from the models, with their constraints and every status."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agencybus.settings import load_settings
from producers.gateway.app import create_app
from producers.gateway.hygiene import CLEAN_NON_BLANK, CLEAN_TEXT
from schemas.event_types import agency_events
from schemas.models import IDENTIFIER_FIELDS
from schemas.reference import agency_codes, province_codes


@pytest.fixture
def doc(tmp_path: Path, clean_env: None) -> dict[str, Any]:
    app = create_app(load_settings(data_dir=tmp_path, metrics_port=0))
    document: dict[str, Any] = app.openapi()
    app.state.gateway.close()
    return document


def _schemas(doc: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = doc["components"]["schemas"]
    return schemas


def _string_of(prop: dict[str, Any]) -> dict[str, Any]:
    """The string branch of an optional (anyOf string | null) property."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            return dict(branch)
    raise AssertionError(prop)


def test_every_event_route_documents_every_status_with_the_error_shape(doc: dict[str, Any]) -> None:
    for event_type in agency_events():
        for path in (f"/v1/events/{event_type.key}", f"/v1/events/{event_type.key}/batch"):
            operation = doc["paths"][path]["post"]
            responses = operation["responses"]
            assert set(responses) == {"202", "400", "401", "403", "409", "413", "415", "422", "429", "503"}
            for status in set(responses) - {"202"}:
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
            assert "Retry-After" in responses["429"]["headers"]
            assert "WWW-Authenticate" in responses["401"]["headers"]
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "HTTPValidationError" not in _schemas(doc)  # FastAPI's own 422 shape is not what we answer


def test_operations_routes_carry_no_security_requirement(doc: dict[str, Any]) -> None:
    assert "security" not in doc  # no global requirement
    for path in ("/healthz", "/readyz"):
        assert "security" not in doc["paths"][path]["get"]


def test_batch_bodies_hold_one_to_a_thousand_events_of_the_model(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/v1/events/violation/batch"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert schema["items"] == {"$ref": "#/components/schemas/ViolationRecorded"}
    assert (schema["minItems"], schema["maxItems"]) == (1, 1000)


def test_the_models_constraints_are_in_the_document(doc: dict[str, Any]) -> None:
    schemas = _schemas(doc)
    header = schemas["EventHeader"]["properties"]
    assert header["agency"]["enum"] == sorted(agency_codes())
    assert header["province_code"]["enum"] == sorted(province_codes())
    assert _string_of(header["commune_code"])["pattern"] == "^[0-9]{5}$"
    assert header["source_system"]["pattern"] == CLEAN_NON_BLANK  # Text: non-blank and clean
    seller = schemas["SellerRef"]
    assert seller["anyOf"] == [
        {"required": [name], "properties": {name: {"minItems": 1}}} for name in IDENTIFIER_FIELDS
    ]
    assert seller["properties"]["tax_codes"]["items"]["pattern"] == "^[0-9]{10}(?:-[0-9]{3})?$"
    assert _string_of(seller["properties"]["name"])["pattern"] == CLEAN_TEXT
    violation = schemas["ViolationRecorded"]["properties"]
    assert violation["categories"]["minItems"] == 1
    assert (violation["fine_vnd"]["minimum"], violation["fine_vnd"]["maximum"]) == (0, 2**63 - 1)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (CLEAN_TEXT, "Công ty TNHH Đông Á", True),
        (CLEAN_TEXT, "", True),
        (CLEAN_TEXT, "a\x00b", False),
        (CLEAN_TEXT, "moc.\u202eelgoog", False),
        (CLEAN_TEXT, "\u2068x", False),
        (CLEAN_NON_BLANK, "  ", False),
        (CLEAN_NON_BLANK, " x ", True),
        (CLEAN_NON_BLANK, "x\u202a", False),
    ],
)
def test_the_documented_text_rule_is_the_one_enforced(pattern: str, text: str, matches: bool) -> None:
    assert (re.fullmatch(pattern, text) is not None) is matches
