"""State Bank throughput: requests/s from the request topic to the ledger with the RECEIVED reply published.

    .venv/bin/python -m benchmarks.bench_bank [--requests 2000] [--batch 500] [--db sqlite|postgresql|both]

Starts its own embedded broker, pre-loads N signed requests on
agency.ca.payment-block-requests.v1, then runs the service loop (decode, Ed25519 verify,
checks, ledger insert with outbox + audit, commit, offset commit, relay publish of the
signed RECEIVED) until every request is in the ledger and every reply is on the bus.
The clock starts at the first poll that returns records (group join excluded).
PostgreSQL: a fresh schema in database ``test`` at 127.0.0.1:5432, dropped afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, select

from agencybus import signing
from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics, make_producer
from agencybus.logging import configure_logging
from agencybus.settings import Settings, load_settings
from consumers.state_bank import samples
from consumers.state_bank.ledger import BlockRequestRow, StatusOutboxRow
from consumers.state_bank.service import BankService
from schemas.event_types import PAYMENT_BLOCK_REQUEST
from schemas.topics import agency_topic


def _pg_url(schema: str) -> str:
    import psycopg

    for user in ("root", "postgres"):
        try:
            with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            return (
                f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options={quote(f'-csearch_path={schema}')}"
            )
        except psycopg.Error:
            continue
    raise SystemExit("PostgreSQL not reachable at 127.0.0.1:5432 database test")


def _drop_pg(url: str, schema: str) -> None:
    import psycopg

    user = url.split("//", 1)[1].split("@", 1)[0]
    with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run(bootstrap: str, db: str, n: int, batch: int, workdir: Path) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    url = _pg_url(schema) if db == "postgresql" else f"sqlite:///{workdir / 'state_bank.db'}"
    settings: Settings = load_settings(
        bootstrap_servers=bootstrap,
        data_dir=workdir,
        database_url=url,
        bank_consumer_group=f"bench-{uuid.uuid4().hex[:8]}",
        bank_max_poll_records=batch,
        bank_web_port=0,
        metrics_port=0,
        log_level="WARNING",
    )
    configure_logging(settings, force=True)  # WARNING: per-request log lines are not what is measured
    for agency in ("CA", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    key, key_id = signing.load_signer(settings.resolved_keys_dir, "CA")
    producer = make_producer(settings)
    ids = []
    for _ in range(n):
        value, headers, record = samples.signed_message(samples.block_request(), key, key_id)
        ids.append(record["request_id"])
        topic = agency_topic(PAYMENT_BLOCK_REQUEST, "CA").name
        producer.send(topic, key=record["request_id"].encode(), value=value, headers=headers)
    producer.flush(timeout=60)
    producer.close()

    service = BankService(settings)
    service.start()
    try:
        started = None
        while True:
            got = service.poll_once(timeout_ms=200)
            if got and started is None:
                started = time.perf_counter()
            if started is None:
                continue
            with service.ledger.reading() as session:
                stored = session.scalar(select(func.count()).select_from(BlockRequestRow)) or 0
                unsent = session.scalar(
                    select(func.count()).select_from(StatusOutboxRow).where(StatusOutboxRow.sent_at.is_(None))
                )
            if stored >= n and unsent == 0:
                elapsed = time.perf_counter() - started
                break
    finally:
        service.close()
        service.ledger.close()
        if db == "postgresql":
            _drop_pg(url, schema)
    rate = n / elapsed
    print(
        f"{db:<10} {n} requests, poll batch {batch}: {elapsed:.2f} s → {rate:,.0f} requests/s"
        " (stored, verified, RECEIVED published)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for db in dbs:  # a fresh broker per run: the topic holds exactly this run's requests
        with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_dir=Path(tmp)) as broker:
            ensure_topics(load_settings(bootstrap_servers=broker.bootstrap_servers))
            run(broker.bootstrap_servers, db, args.requests, args.batch, Path(tmp))


if __name__ == "__main__":
    main()
