"""The shipped sample files stay importable and, for a payment block, executable today.

A sample that expires quietly teaches an officer that the import is broken: this test reads every
sample as `agencybus publish` does and checks a block request against the State Bank's own date
and legal-basis checks with today's clock, 30 days ahead (time to refresh the sample's dates).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.state_bank.verification import check_legal_basis, check_validity
from producers.file_import import columns_for, complete_header, importable_types, read_csv, read_jsonl
from schemas.models import model_for

SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"
PLAN = [
    ("QLTT", "violation", "violations.csv"),
    ("QLTT", "violation", "violations.jsonl"),
    ("CA", "inspection", "inspections.csv"),
    ("THUE", "tax-anomaly", "tax-anomalies.csv"),
    ("SCT", "complaint", "complaints.csv"),
    ("CA", "payment-block-request", "payment-block-requests.csv"),
]


def test_every_sample_file_is_in_the_plan() -> None:
    assert {name for _, _, name in PLAN} == {
        p.name for p in SAMPLES.iterdir() if p.suffix in (".csv", ".jsonl")
    }


@pytest.mark.parametrize(("agency", "event_type", "name"), PLAN)
def test_a_sample_validates_today(agency: str, event_type: str, name: str) -> None:
    record_name = importable_types()[event_type].record_name
    columns = {c.path: c for c in columns_for(record_name)}
    path = SAMPLES / name
    rows = list(read_csv(path, columns) if path.suffix == ".csv" else read_jsonl(path))
    assert rows
    for raw in rows:
        assert raw.data is not None and not raw.problems, raw.problems
        assert not complete_header(
            raw.data, agency=agency, event_type=event_type, source_system="sample", province_code="38"
        )
        event = model_for(record_name).model_validate(raw.data)  # decision dates not after today
        assert event.header.occurred_at <= datetime.now(UTC)
        if event_type == "payment-block-request":
            record = event.model_dump()
            assert not check_legal_basis(record)
            in_30_days = datetime.now(UTC) + timedelta(days=30)
            problems = check_validity(record, in_30_days)
            assert not problems, f"{name}: refresh valid_until (the bank would refuse it): {problems}"
