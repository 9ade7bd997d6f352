"""Rebuild benchmark: ``agencybus rebuild`` over a simulated history of a million events.

Run from the repository root (starts its own embedded broker on loopback):

    .venv/bin/python benchmarks/bench_rebuild.py [--events 1000000] [--chunk 100000] [--apply]

1. The simulator's traffic, in chunks of ``--chunk`` events (one seed each, about six
   events per seller, so sellers do not repeat across chunks), is published to the agency
   topics of a fresh embedded broker.
2. ``agencybus rebuild --app-id bench-old --json`` runs as a child process: it reads every
   record back, decodes and validates it, re-correlates everything into a new namespace
   and prints the change report (the "running" namespace announced nothing, so every case
   is opened). Wall time and the child's peak resident memory (``ru_maxrss``) are printed
   with the report, and the cases opened are compared with the ground truth's.
3. With ``--apply``, the same again with ``--apply``: the new namespace's tables go to its
   changelog topics and its versions to the alert topics.

``--in-process`` measures the rebuild's core alone (``processors.rebuild.Rebuild``, no
broker, no decoding) on ``--events`` summaries: one simulated chunk is generated, decoded
and validated once, then replayed ``events / chunk`` times as other sellers (each copy's
identifiers and event ids made distinct; warninglisted identifiers stay shared, as a
marketplace's escrow account is), so the ground truth is the chunk's times the copies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from agencybus.broker import EmbeddedBroker
from agencybus.kafka import ensure_topics, make_producer
from agencybus.settings import Settings
from producers.simulator import generate
from schemas import codec
from schemas.identity import primary_token
from schemas.topics import agency_topic


def publish_history(settings: Settings, events: int, chunk: int, seed: int) -> int:
    """Publish the simulated history chunk by chunk; returns the ground truth's number of cases."""
    producer = make_producer(settings, linger_ms=50, batch_size=1 << 20)
    expected = 0
    started = time.monotonic()
    try:
        for index, offset in enumerate(range(0, events, chunk)):
            n = min(chunk, events - offset)
            scenario = generate(seed=seed + index, sellers=max(50, n // 6), events=n)
            expected += len(scenario.truth["expected_cases"])
            for event in scenario.events:
                enc = codec.encode_event(event)
                key = primary_token(event.seller).encode()  # type: ignore[attr-defined]
                topic = agency_topic(enc.event_type, event.header.agency).name
                producer.send(topic, key=key, value=enc.value, headers=enc.headers)
            producer.flush()
            done = offset + n
            rate = done / (time.monotonic() - started)
            print(f"published {done:,} / {events:,} ({rate:,.0f} ev/s)", file=sys.stderr, flush=True)
    finally:
        producer.close()
    return expected


def _rss_mib() -> int:
    """Resident memory now (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


def in_process(events: int, chunk: int, seed: int) -> dict[str, object]:
    """The rebuild's core over ``events`` summaries (see the module docstring): time, CPU, peak RSS."""
    import dataclasses
    import uuid

    from processors.identity import load_warninglist
    from processors.ingest import ingest
    from processors.rebuild import Rebuild
    from processors.rules import load_rules

    scenario = generate(seed=seed, sellers=max(50, chunk // 6), events=chunk)
    base = []
    for event in scenario.events:
        enc = codec.encode_event(event)
        summary = ingest(agency_topic(enc.event_type, event.header.agency).name, enc.value, enc.headers).event
        assert summary is not None
        base.append(summary)
    truth = len(scenario.truth["expected_cases"])
    del scenario
    warninglist = load_warninglist()
    rebuild = Rebuild(load_rules(), namespace="bench", warninglist=warninglist)
    copies = events // chunk
    rss_before = _rss_mib()
    wall, cpu = time.monotonic(), time.process_time()
    for copy in range(copies):
        for summary in base:
            tokens = [t if warninglist.matches(t) else f"{t}~{copy}" for t in summary.tokens]
            event_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{copy}:{summary.event_id}"))
            rebuild.event(dataclasses.replace(summary, event_id=event_id, tokens=tokens))
        done = (copy + 1) * len(base)
        print(
            f"correlated {done:,} ({done / (time.monotonic() - wall):,.0f} ev/s)", file=sys.stderr, flush=True
        )
    result = rebuild.finish({})
    state_bytes = sum(len(v) for v in result.tables["cluster-state"].raw.values())  # type: ignore[attr-defined]
    return {
        "events": copies * len(base),
        "wall_s": round(time.monotonic() - wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "rss_before_feed_mib": rss_before,  # the generated chunk and its summaries
        "rss_after_mib": _rss_mib(),
        "cluster_states": len(result.tables["cluster-state"]),
        "cluster_state_mib": round(state_bytes / 2**20, 1),
        "tokens": len(result.tables["identity-token-root"]),
        "truth_cases": truth * copies,
        **result.report.to_dict(),
    }


def run_rebuild(settings: Settings, *extra: str) -> tuple[dict[str, object], float, int]:
    """``agencybus rebuild`` as a child process: its report, wall time and peak RSS (MiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env.update(
        AGENCYBUS_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        AGENCYBUS_DATA_DIR=str(settings.data_dir),
        AGENCYBUS_LOG_LEVEL="WARNING",
    )
    command = [
        sys.executable,
        "-m",
        "agencybus.cli.main",
        "rebuild",
        "--app-id",
        "bench-old",
        "--json",
        *extra,
    ]
    started = time.monotonic()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"rebuild failed ({status}): {out}")
    return json.loads(out), elapsed, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--apply", action="store_true", help="also run rebuild --apply")
    parser.add_argument("--in-process", action="store_true", help="the rebuild core alone, no broker")
    parser.add_argument("--workdir", type=Path, default=Path(".agencybus/bench-rebuild"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.in_process:
        print(json.dumps(in_process(args.events, args.chunk, args.seed)))
        return
    with EmbeddedBroker(log_dir=args.workdir) as broker:
        settings = Settings(bootstrap_servers=broker.bootstrap_servers, data_dir=args.workdir)
        ensure_topics(settings)
        started = time.monotonic()
        expected = publish_history(settings, args.events, args.chunk, args.seed)
        print(f"history published in {time.monotonic() - started:.0f} s", file=sys.stderr)
        report, elapsed, peak = run_rebuild(settings)
        print(
            json.dumps(
                {"rebuild_s": round(elapsed, 1), "peak_rss_mib": peak, "truth_cases": expected, **report}
            )
        )
        if args.apply:
            report, elapsed, peak = run_rebuild(settings, "--apply")
            print(json.dumps({"apply_s": round(elapsed, 1), "peak_rss_mib": peak, **report}))
    print(
        f"this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
