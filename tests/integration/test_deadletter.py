"""Dead letters on the real broker: write, list, show, replay once (and never twice), metrics."""

from __future__ import annotations

import urllib.request
import uuid

import pytest
from typer.testing import CliRunner

from agencybus import deadletter as dl
from agencybus.broker import free_port
from agencybus.kafka import ensure_topics, make_producer
from agencybus.metrics import serve_metrics, stop_metrics
from agencybus.settings import Settings
from schemas.topics import Topic
from tests.cli import runtime_app
from tests.helpers import consume_until, header

pytestmark = pytest.mark.broker


@pytest.fixture
def source(settings: Settings) -> Topic:
    """A private source topic and its DLQ (the catalog's DLQs are shared with other tests)."""
    topic = Topic(f"test.dl.{uuid.uuid4().hex[:8]}", None, "none", "dead-letter test", partitions=2)
    ensure_topics(settings, [topic, Topic(topic.dlq, None, "source key", "its DLQ", partitions=2)])
    return topic


def _dead_letter_three(settings: Settings, source: Topic) -> list[bytes]:
    producer = make_producer(settings)
    writer = dl.DeadLetterWriter(producer, consumer="test-consumer")
    values = [b"\xc3\x01 not avro " + bytes([i]) for i in range(3)]
    try:
        for i, value in enumerate(values):
            writer.send(
                source.name,
                partition=1,
                offset=40 + i,
                key=b"tax:2801234567",
                value=value,
                headers=[("ce_id", f"id-{i}".encode()), ("dlq_error_type", b"Stale")],
                error=ValueError(f"seller.national_ids[0]: bad 001203012345 in record {i}"),
            )
    finally:
        producer.close()
    return values


def test_dead_letter_keeps_the_original_and_says_what_went_wrong(settings: Settings, source: Topic) -> None:
    values = _dead_letter_three(settings, source)
    letters = list(dl.read_dead_letters(settings, source.name))
    assert [letter.value for letter in letters] == values  # same key -> one partition, in order
    first = letters[0]
    assert first.dlq_topic == f"dlq.{source.name}" and first.key == b"tax:2801234567"
    assert first.header("ce_id") == "id-0"
    assert first.header(dl.H_ERROR_TYPE) == "ValueError"  # the stale dlq_error_type header was replaced
    assert first.header(dl.H_SOURCE_TOPIC) == source.name
    assert (first.header(dl.H_SOURCE_PARTITION), first.header(dl.H_SOURCE_OFFSET)) == ("1", "40")
    assert first.header(dl.H_CONSUMER) == "test-consumer"
    assert (first.header(dl.H_FAILED_AT) or "").endswith("+00:00")
    message = first.header(dl.H_ERROR_MESSAGE)
    assert message is not None and "seller.national_ids[0]" in message and "001203012345" not in message
    assert dl.dlq_counts(settings, [first.dlq_topic]) == {first.dlq_topic: 3}


def test_replay_one_then_all_republishes_each_record_exactly_once(settings: Settings, source: Topic) -> None:
    values = _dead_letter_three(settings, source)
    letters = list(dl.read_dead_letters(settings, source.name))
    middle = letters[1]

    replayed = dl.replay_one(settings, middle.dlq_topic, middle.partition, middle.offset)
    assert replayed.value == values[1]
    with pytest.raises(dl.DeadLetterError, match="already replayed"):
        dl.replay_one(settings, middle.dlq_topic, middle.partition, middle.offset)

    rest = dl.replay_all(settings, source.name)
    assert [r.value for r in rest] == [values[0], values[2]]  # the middle one is not sent twice
    assert dl.replay_all(settings, source.name) == []

    back = consume_until(settings, source.name, lambda kept: len(kept) >= 3)
    assert sorted(r.value for r in back) == sorted(values)
    for record in back:
        assert record.key == b"tax:2801234567"
        assert [k for k, _ in record.headers] == ["ce_id"]  # original headers, no dlq_* left
    assert {header(r, "ce_id") for r in back} == {b"id-0", b"id-1", b"id-2"}


def test_cli_lists_shows_and_replays(
    settings: Settings, source: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dead_letter_three(settings, source)
    monkeypatch.setenv("AGENCYBUS_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(settings.data_dir))
    runner, app, env = CliRunner(), runtime_app(), {"COLUMNS": "250"}
    position = dl.read_dead_letters(settings, source.name).__next__().position

    listed = runner.invoke(app, ["dlq", "list", source.name], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("ValueError") == 3 and position in listed.output

    summary = runner.invoke(app, ["dlq", "list"], env=env)
    assert summary.exit_code == 0 and "dlq.agency.qltt.violations.v1" in summary.output

    shown = runner.invoke(app, ["dlq", "show", source.name, position], env=env)
    assert shown.exit_code == 0, shown.output
    assert "dlq_source_offset: 40" in shown.output
    assert "00000000  c3 01 20 6e 6f 74" in shown.output  # hexdump of the original bytes
    assert "not decodable" in shown.output and "replayed: no" in shown.output

    replay = runner.invoke(app, ["dlq", "replay", source.name, "--offset", position], env=env)
    assert replay.exit_code == 0 and "1 replayed" in replay.output
    again = runner.invoke(app, ["dlq", "replay", source.name, "--offset", position], env=env)
    assert again.exit_code == 1 and "already replayed" in again.output
    everything = runner.invoke(app, ["dlq", "replay", source.name, "--all"], env=env)
    assert everything.exit_code == 0 and "2 replayed" in everything.output

    neither = runner.invoke(app, ["dlq", "replay", source.name], env=env)
    assert neither.exit_code == 2 and "exactly one of --offset N or --all" in neither.output
    missing = runner.invoke(app, ["dlq", "show", source.name, "0:999"], env=env)
    assert missing.exit_code == 1 and "not 999" in missing.output


def test_dead_letters_are_counted_on_the_metrics_endpoint(settings: Settings, source: Topic) -> None:
    _dead_letter_three(settings, source)
    port = serve_metrics(free_port())
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        stop_metrics(port)
    line = next(
        line
        for line in body.splitlines()
        if line.startswith("agencybus_dead_letters_total{") and f'source_topic="{source.name}"' in line
    )
    assert 'error_type="ValueError"' in line and line.endswith(" 3.0")
    assert serve_metrics(0) == 0
