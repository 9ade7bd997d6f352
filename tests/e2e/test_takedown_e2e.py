"""End to end: a case's evidence → a signed takedown request → the platform verifies and answers.

Real broker, real processors, dashboard, forwarder (``agencybus subscribe --platform SHOPEE``
to the platform's webhook) and platform service (``agencybus platform serve``) as subprocesses;
the answer is given with the CLI verb (``agencybus platform answer``). Next to the genuine request
three others reach the platform: one altered after signing, one forged (signed with a key that is
not QLTT's), and one signed by THUE, which the bus's registry (misconfigured on purpose) lets
send requests but the platform's own copy of the registry does not: all three are refused.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agencybus import signing
from agencybus.broker import EmbeddedBroker, free_port
from agencybus.kafka import ensure_topics, make_producer
from agencybus.settings import Settings
from consumers.steering import store as st
from schemas import codec
from schemas import topics as tc
from schemas.examples import example_events
from schemas.models import SellerRef, ShopHandle, TaxAnomalyDetected, ViolationRecorded
from schemas.reference import AGENCIES_FILE
from tests.browser.dashboard_process import AGENCYBUS, PASSWORD, running_dashboard, stop_group
from tests.helpers import dashboard_login, read_to_end

pytestmark = [pytest.mark.broker]

TOKEN = "platform-e2e-" + uuid.uuid4().hex
USERS = (
    ("bcd.chair", "BCD389", "Trưởng ban BCĐ 389"),
    ("qltt.officer", "QLTT", "Cán bộ QLTT"),
    ("thue.officer", "THUE", "Cán bộ Thuế tỉnh"),
)


def base_env(bootstrap: str, data_dir: Path, **extra: str) -> dict[str, str]:
    from tests.browser.dashboard_process import dashboard_env

    data_dir.mkdir(parents=True, exist_ok=True)
    env = dashboard_env(bootstrap, data_dir, 0)
    env.update(extra)
    return env


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def bus_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: EmbeddedBroker) -> Path:
    """The bus's agency registry, wrongly letting THUE request takedowns (its topic is created)."""
    text = AGENCIES_FILE.read_text(encoding="utf-8")
    thue = text.index("  - code: THUE")
    flag = text.index("    may_request_payment_blocks: false\n", thue)
    path = tmp_path / "agencies-bus.yaml"
    path.write_text(text[:flag] + "    may_request_takedowns: true\n" + text[flag:], encoding="utf-8")
    monkeypatch.setenv("AGENCYBUS_AGENCIES_FILE", str(path))
    ensure_topics(Settings(bootstrap_servers=broker.bootstrap_servers))
    assert "agency.thue.takedown-requests.v1" in {t.name for t in tc.agency_topics("takedown-request")}
    return path


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    """The dashboard host's keys (QLTT, THUE; SHOPEE's public key) and the platform's (SHOPEE; theirs)."""
    bus, platform = tmp_path / "keys-bus", tmp_path / "keys-platform"
    for agency in ("QLTT", "THUE"):
        signing.generate_keypair(agency, bus)
    signing.generate_keypair("SHOPEE", platform)
    for src, dst, signer in ((bus, platform, "QLTT"), (bus, platform, "THUE"), (platform, bus, "SHOPEE")):
        shutil.copy(signing.public_key_path(src, signer), signing.public_key_path(dst, signer))
    return bus, platform


@pytest.fixture
def platform(broker: EmbeddedBroker, tmp_path: Path, keys: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    """``agencybus platform serve`` for SHOPEE with the SHIPPED registry (THUE has no authority)."""
    port = free_port()
    env = base_env(
        broker.bootstrap_servers,
        tmp_path / "platform",
        AGENCYBUS_KEYS_DIR=str(keys[1]),
        AGENCYBUS_PLATFORM="SHOPEE",
        AGENCYBUS_PLATFORM_PORT=str(port),
        AGENCYBUS_PLATFORM_API_TOKEN=TOKEN,
        AGENCYBUS_PLATFORM_ALLOWED_AGENCIES='["CA", "QLTT", "SCT", "THUE"]',
        AGENCYBUS_PLATFORM_RELAY_INTERVAL_S="0.3",
    )
    log = tmp_path / "platform.log"
    proc = start([AGENCYBUS, "platform", "serve"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"platform service exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"platform service not up in 30 s: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        yield {"url": url, "env": env, "process": proc, "log": log}
    finally:
        stop_group(proc)


@pytest.fixture
def bus_roles(
    broker: EmbeddedBroker, tmp_path: Path, bus_registry: Path, platform: dict[str, Any]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The processors and the platform's forwarder (webhook to the platform service), bus registry."""
    registry = {"AGENCYBUS_AGENCIES_FILE": str(bus_registry)}
    procs = base_env(
        broker.bootstrap_servers, tmp_path / "proc", AGENCYBUS_PROCESSOR_STORE="memory://", **registry
    )
    forwarder = base_env(broker.bootstrap_servers, tmp_path / "fwd", PLATFORM_TOKEN=TOKEN, **registry)
    started = [
        start(
            [
                AGENCYBUS,
                "process",
                "--app-id",
                f"e2e-td-{uuid.uuid4().hex[:8]}",
                "--web-port",
                str(free_port()),
            ],
            procs,
            tmp_path / "processors.log",
        ),
        start(
            [
                AGENCYBUS,
                "subscribe",
                "--platform",
                "SHOPEE",
                "--webhook",
                f"{platform['url']}/takedown-requests",
                "--token-env",
                "PLATFORM_TOKEN",
                "--group",
                f"fwd-{uuid.uuid4().hex[:8]}",
            ],
            forwarder,
            tmp_path / "forwarder.log",
        ),
    ]
    try:
        yield started
    finally:
        for proc in started:
            stop_group(proc)


def planted_case(phone: str, handle: str) -> list[ViolationRecorded | TaxAnomalyDetected]:
    """QLTT's counterfeit violation (the shop on Shopee) and THUE's tax anomaly: counterfeit-tax-180d."""
    now = datetime.now(UTC)
    shop = ShopHandle(platform="SHOPEE", handle=handle)
    events: list[ViolationRecorded | TaxAnomalyDetected] = []
    for event in example_events(base_time=now - timedelta(minutes=10), fresh_ids=True):
        if isinstance(event, ViolationRecorded):
            events.append(
                event.model_copy(
                    update={"seller": SellerRef(name="Mỹ phẩm E2E", phones=[phone], shops=[shop])}
                )
            )
        elif isinstance(event, TaxAnomalyDetected):
            events.append(event.model_copy(update={"seller": SellerRef(phones=[phone])}))
    return events


def publish(
    settings: Settings, items: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = make_producer(settings)
    try:
        for topic, key, value, headers in items:
            producer.send(topic, key=key, value=value, headers=headers).get(timeout=30)
    finally:
        producer.close(timeout=5)


def request_takedown(client: httpx.Client, case_id: str, handle: str, decision: str) -> httpx.Response:
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'data-testid="takedown-form"' in page.text, page.text[-1500:]
    assert f'value="{handle}"' in page.text, "the case's shop is offered"
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    return client.post(
        f"/cases/{case_id}/takedowns",
        data={
            "csrf": csrf.group(1),
            "platform": "SHOPEE",
            "shop": handle,
            "listing_urls": f"https://shopee.vn/{handle}/1234567890",
            "reason": "Gian hàng bán mỹ phẩm giả đã bị xử phạt",
            "legal_document": "Nghị định 52/2013/NĐ-CP (sửa đổi bởi Nghị định 85/2021/NĐ-CP)",
            "article": "Điều 36",
            "decision_number": decision,
        },
        follow_redirects=False,
    )


def wait_for(what: str, check: Any, timeout: float = 90, logs: tuple[Path, ...] = ()) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in logs if log.exists())
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails}")
        time.sleep(0.5)


def wait_for_case(
    data_dir: Path, handle: str, events: list[ViolationRecorded | TaxAnomalyDetected], logs: tuple[Path, ...]
) -> str:
    """The id of the dashboard's joint case on the shop ``handle`` holding all of ``events``."""
    mine = {str(e.header.event_id) for e in events}
    store = st.Store(f"sqlite:///{data_dir / 'dashboard.db'}")

    def the_case() -> str | None:
        with store.session() as s:
            for row in s.query(st.AudienceToken).filter_by(audience="ALL", token=f"shop:shopee:{handle}"):
                evidence = {
                    e.event_id for e in s.query(st.Evidence).filter(st.Evidence.case_id == row.case_id)
                }
                if mine <= evidence:
                    return str(row.case_id)
        return None

    try:
        return str(wait_for("the joint case on the dashboard", the_case, logs=logs))
    finally:
        store.close()


def answer_partly_removed(platform_env: dict[str, str], register_number: int) -> None:
    """The platform's compliance officer answers with the CLI verb: target 1 removed, 2 not found."""
    answered = subprocess.run(
        [AGENCYBUS, "platform", "answer", str(register_number), "--outcome", "partly-removed",
         "--target", "1=REMOVED", "--target", "2=NOT_FOUND", "--officer", "Trần Minh Khoa"],
        env=platform_env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert answered.returncode == 0, answered.stdout + answered.stderr


def test_evidence_to_takedown_to_answer_on_the_case_page_and_bad_requests_refused(
    broker: EmbeddedBroker,
    settings: Settings,
    tmp_path: Path,
    keys: tuple[Path, Path],
    bus_registry: Path,
    platform: dict[str, Any],
    bus_roles: list[subprocess.Popen[bytes]],
) -> None:
    phone = f"09{uuid.uuid4().int % 10**8:08d}"
    handle = f"e2e.{uuid.uuid4().hex[:8]}"
    logs = (tmp_path / "processors.log", tmp_path / "forwarder.log", platform["log"])
    extra = {"AGENCYBUS_KEYS_DIR": str(keys[0]), "AGENCYBUS_AGENCIES_FILE": str(bus_registry)}
    with running_dashboard(broker.bootstrap_servers, tmp_path / "dash", extra_env=extra, users=USERS) as dash:
        events = planted_case(phone, handle)
        encoded = [(e, codec.encode_event(e)) for e in events]
        publish(
            settings,
            [
                (tc.topic_for(e.EVENT_TYPE.key, e.header.agency).name, e.kafka_key(), x.value, x.headers)
                for e, x in encoded
            ],
        )
        case_id = wait_for_case(dash.data_dir, handle, events, logs)

        # the genuine request (QLTT) and THUE's, from the case page
        with httpx.Client(base_url=dash.url) as qltt, httpx.Client(base_url=dash.url) as thue:
            dashboard_login(qltt, "qltt.officer", PASSWORD)
            dashboard_login(thue, "thue.officer", PASSWORD)
            sent = request_takedown(qltt, case_id, handle, "25/QĐ-XPHC")
            assert sent.status_code == 303, sent.text
            genuine_id = sent.headers["location"].split("takedown=")[1].split("#")[0]
            sent = request_takedown(thue, case_id, handle, "7/QĐ-THUE")
            assert sent.status_code == 303, sent.text
            thue_id = sent.headers["location"].split("takedown=")[1].split("#")[0]

        # an altered copy of the genuine request, and a forgery signed with a key that is not QLTT's
        topic = "agency.qltt.takedown-requests.v1"
        [genuine] = wait_for(
            "the genuine request on its topic",
            lambda: read_to_end(settings, topic, lambda r: genuine_id.encode() in r.value),
        )
        writer, record = codec.read_writer(genuine.value)
        record["targets"][-1]["listing_url"] = "https://shopee.vn/a-competitor/999"
        altered = codec.encode_version(record, writer)
        attacker = tmp_path / "attacker"
        signing.generate_keypair("QLTT", attacker)
        forged_record = dict(
            record, request_id=str(uuid.uuid4()), header={**record["header"], "event_id": str(uuid.uuid4())}
        )
        key, key_id = signing.load_signer(attacker, "QLTT")
        forged, forged_headers = signing.signed_message(forged_record, "TakedownRequested", key, key_id)
        publish(
            settings,
            [
                (topic, genuine.key, altered, list(genuine.headers)),
                (topic, genuine.key, forged, forged_headers),
            ],
        )

        # the platform receives all four and verifies each
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def four() -> list[dict[str, Any]] | None:
            rows = httpx.get(f"{platform['url']}/takedown-requests", headers=auth, timeout=5).json()
            return rows if len(rows) >= 4 else None

        rows = wait_for("four deliveries at the platform", four, logs=logs)
        assert len(rows) == 4
        by_request = {(r["request_id"], r["authentic"]): r for r in rows}
        accepted = [r for r in rows if r["status"] == "RECEIVED"]
        assert [r["request_id"] for r in accepted] == [genuine_id]
        refused = {(r["request_id"], r["reason_code"]) for r in rows if r["status"] == "REFUSED"}
        assert refused == {
            (genuine_id, "SIGNATURE_INVALID"),  # the altered copy
            (forged_record["request_id"], "SIGNATURE_INVALID"),
            (thue_id, "AGENCY_NOT_AUTHORISED"),
        }
        bad = [r for r in rows if (r["request_id"], r["authentic"]) != (genuine_id, True)]
        bad_accepted = sum(1 for r in bad if r["status"] != "REFUSED")
        assert len(bad) == 3 and bad_accepted == 0
        print(
            f"\nplatform: {len(rows)} deliveries, 1 accepted (genuine), {len(refused)} refused, "
            f"bad ones accepted: {bad_accepted}"
        )

        # the compliance officer answers with the CLI verb; the running service publishes it
        answer_partly_removed(platform["env"], by_request[(genuine_id, True)]["register_number"])

        # the answers show on the case page: the genuine one partly removed, THUE's refused
        with httpx.Client(base_url=dash.url) as chair:
            dashboard_login(chair, "bcd.chair", PASSWORD)

            def rows_on_page() -> dict[str, str] | None:
                page = chair.get(f"/cases/{case_id}").text
                found = dict(re.findall(r'<tr[^>]*data-request="([^"]+)">(.*?)</tr>', page, re.S))
                ok = genuine_id in found and 'data-testid="takedown-outcome"' in found[genuine_id]
                return found if ok and thue_id in found and "takedown-outcome" in found[thue_id] else None

            found = wait_for("both answers on the case page", rows_on_page, logs=logs)
        assert re.search(r"Gỡ bỏ một phần|Partly removed", found[genuine_id])
        assert (
            re.search(r"Không tìm thấy|Not found", found[genuine_id])
            and "Trần Minh Khoa" in found[genuine_id]
        )
        assert re.search(r"Từ chối|Refused", found[thue_id]) and "AGENCY_NOT_AUTHORISED" in found[thue_id]
        assert forged_record["request_id"] not in found, "a forged request never reaches the case page"
