"""The processors (faust over aiokafka, SASL_SSL + SCRAM) on the cluster: ground truth and the dashboard.

One worker for the module: the simulator's scenario published through the SDK becomes exactly
the ground truth's joint cases, and a planted pattern reaches the dashboard's PostgreSQL store
and its pages.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agencybus.cluster import KafkaCluster
from agencybus.kafka import make_producer
from agencybus.settings import Settings
from consumers.steering import store as st
from processors.runner import WorkerProcess
from schemas import codec
from schemas import topics as tc
from tests.browser.dashboard_process import PASSWORD, running_dashboard
from tests.e2e.test_dashboard_e2e import planted_pattern
from tests.helpers import dashboard_login
from tests.kafka.scenario import expected_cases_found, publish_steadily, scenario, start_worker

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def worker(kafka_cluster: KafkaCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    settings = kafka_cluster.settings(data_dir=tmp_path_factory.mktemp("worker"))
    process = start_worker(settings, settings.data_dir / "worker")
    try:
        yield process
    finally:
        process.stop()


def test_simulated_scenario_through_the_sdk_gives_exactly_the_expected_cases(
    kafka_settings: Settings, worker: WorkerProcess
) -> None:
    scn = scenario()
    published = publish_steadily(kafka_settings, scn, rate=300)
    assert published.accepted == {str(e.header.event_id) for e in scn.events}
    verdict = expected_cases_found(kafka_settings, scn, timeout=120)
    assert worker.process is not None and worker.process.poll() is None, worker.log_tail()
    assert verdict["expected"] >= 5
    assert (verdict["missing"], verdict["split"], verdict["extra"]) == ([], [], []), verdict


def test_planted_pattern_reaches_the_dashboard_on_postgresql(
    kafka_cluster: KafkaCluster, kafka_settings: Settings, worker: WorkerProcess, pg_url: str, tmp_path: Path
) -> None:
    phone = f"09{random.randrange(10**7, 10**8)}"
    token = f"phone:+84{phone[1:]}"
    events = planted_pattern(phone)
    extra_env = {**kafka_settings.kafka_env(), "AGENCYBUS_DATABASE_URL": pg_url}
    with running_dashboard(kafka_cluster.bootstrap_servers, tmp_path / "dash", extra_env=extra_env) as dash:
        producer = make_producer(kafka_settings)
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
        mine = {str(e.header.event_id) for e in events}
        store = st.Store(pg_url)
        case_id = None
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline and case_id is None:
                with store.session() as s:
                    for row in s.query(st.AudienceToken).filter_by(audience="ALL", token=token).all():
                        ids = {
                            e.event_id
                            for e in s.query(st.Evidence).filter(st.Evidence.case_id == row.case_id)
                        }
                        if mine <= ids:
                            case_id = row.case_id
                time.sleep(0.5)
        finally:
            store.close()
        assert case_id is not None, f"no case with {token} in the dashboard's PostgreSQL store within 120 s"
        with httpx.Client(base_url=dash.url) as client:
            dashboard_login(client, "bcd.chair", PASSWORD)
            page = client.get("/cases", params={"q": phone[:4] + " " + phone[4:7] + " " + phone[7:]})
            assert case_id in page.text
