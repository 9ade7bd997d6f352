"""End to end: a planted pattern published by two agencies becomes a joint case in the dashboard.

Real broker, real processors (``agencybus process``) and real dashboard (``agencybus
dashboard``) as subprocesses; the events are built with the models and published with
the codec, as an agency adapter would.
"""

from __future__ import annotations

import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agencybus.broker import EmbeddedBroker, free_port
from agencybus.kafka import make_producer
from agencybus.settings import Settings
from consumers.steering import store as st
from schemas import codec
from schemas import topics as tc
from schemas.examples import example_events
from schemas.models import SellerRef, TaxAnomalyDetected, ViolationRecorded
from tests.browser.dashboard_process import AGENCYBUS, PASSWORD, running_dashboard, stop_group
from tests.helpers import dashboard_login

pytestmark = [pytest.mark.broker]


@pytest.fixture
def processors(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    from tests.browser.dashboard_process import dashboard_env

    env = dashboard_env(broker.bootstrap_servers, tmp_path / "proc", 0)
    env["AGENCYBUS_PROCESSOR_STORE"] = "memory://"
    (tmp_path / "proc").mkdir()
    log = tmp_path / "processors.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                AGENCYBUS,
                "process",
                "--app-id",
                f"e2e-dash-{uuid.uuid4().hex[:8]}",
                "--web-port",
                str(free_port()),
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def planted_pattern(phone: str) -> list[ViolationRecorded | TaxAnomalyDetected]:
    """The example violation (QLTT, counterfeit) and tax anomaly (THUE) about a seller only this test uses."""
    seller = SellerRef(name="Cửa hàng kiểm thử E2E", phones=[phone])
    now = datetime.now(UTC)
    events = []
    for event in example_events(base_time=now - timedelta(minutes=10), fresh_ids=True):
        if isinstance(event, ViolationRecorded | TaxAnomalyDetected):
            events.append(event.model_copy(update={"seller": seller}))
    return events


def test_planted_pattern_becomes_a_case_in_the_store_and_on_the_page(
    broker: EmbeddedBroker, settings: Settings, processors: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    phone = f"09{random.randrange(10**7, 10**8)}"
    token = f"phone:+84{phone[1:]}"
    events = planted_pattern(phone)
    with running_dashboard(broker.bootstrap_servers, tmp_path / "dash") as dash:
        producer = make_producer(settings)
        try:
            for event in events:
                encoded = codec.encode_event(event)
                producer.send(
                    tc.topic_for(event.EVENT_TYPE.key, event.header.agency).name,
                    key=event.kafka_key(),
                    value=encoded.value,
                    headers=encoded.headers,
                ).get(timeout=30)
        finally:
            producer.close(timeout=5)
        published = time.monotonic()
        mine = {str(e.header.event_id) for e in events}
        store = st.Store(f"sqlite:///{dash.data_dir / 'dashboard.db'}")
        case_id = None
        deadline = published + 90
        while time.monotonic() < deadline and case_id is None:
            assert processors.poll() is None, "processors exited"
            with store.session() as s:
                rows = s.query(st.AudienceToken).filter_by(audience="ALL", token=token).all()
                for row in rows:
                    ev = {e.event_id for e in s.query(st.Evidence).filter(st.Evidence.case_id == row.case_id)}
                    if mine <= ev:
                        case_id = row.case_id
            time.sleep(0.5)
        store.close()
        assert case_id is not None, f"no case with {token} and events {mine} within 90 s"
        with httpx.Client(base_url=dash.url) as client:
            dashboard_login(client, "bcd.chair", PASSWORD)
            page = client.get("/cases", params={"q": phone[:4] + " " + phone[4:7] + " " + phone[7:]})
            assert case_id in page.text
            detail = client.get(f"/cases/{case_id}")
            assert (
                detail.status_code == 200 and "counterfeit-tax-180d" in detail.text and token in detail.text
            )
