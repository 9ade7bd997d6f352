"""The SQLite outbox: order, uniqueness, delivered memory, status, survival across reopen."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.outbox import Delivered, OutboundEvent, Outbox, id_key, outbox_files, outbox_path


def event(n: int, key: bytes = b"phone:+84912345678") -> OutboundEvent:
    return OutboundEvent(
        event_id=f"00000000-0000-0000-0000-{n:012d}",
        topic="agency.violations.v1",
        key=key,
        value=b"\xc3\x01" + bytes([n % 256]) * 10,
        headers=[("ce_id", f"{n}".encode()), ("content-type", b"application/avro")],
        agency="QLTT",
        event_type="violation",
    )


def test_rows_come_back_in_enqueue_order_with_bytes_intact(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.enqueue([event(3), event(1)])
    box.enqueue([event(2)])
    rows = box.peek()
    assert [r.event for r in rows] == [event(3), event(1), event(2)]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)


def test_same_event_id_is_queued_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.enqueue([event(1), event(2)]) == [event(1).event_id, event(2).event_id]
    assert box.enqueue([event(1)]) == []
    assert box.pending_count() == 2


def test_delivered_rows_leave_the_queue_and_are_remembered(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.enqueue([event(1), event(2)])
    box.record_delivered([Delivered("QLTT", event(1).event_id, "agency.violations.v1", 3, 42)])
    assert [r.event.event_id for r in box.peek()] == [event(2).event_id]
    known = box.known([("QLTT", event(n).event_id) for n in (1, 2, 9)])
    assert known == {
        ("QLTT", event(1).event_id): Delivered("QLTT", event(1).event_id, "agency.violations.v1", 3, 42),
        ("QLTT", event(2).event_id): None,
    }


def test_pending_rows_survive_a_reopen(tmp_path: Path) -> None:
    path = outbox_path(tmp_path, "QLTT")
    box = Outbox(path)
    box.enqueue([event(n) for n in range(5)], error="NoBrokersAvailable")
    box.close()
    again = Outbox(path)
    assert [r.event for r in again.peek()] == [event(n) for n in range(5)]
    assert outbox_files(tmp_path) == [path]


def test_status_reports_pending_oldest_age_and_last_error(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.status().pending == 0 and box.status().oldest_age_s() is None
    box.enqueue([event(1)])
    first = box.peek()[0]
    box.record_failure(first.seq, "KafkaTimeoutError: broker gone")
    status = box.status()
    assert status.pending == 1 and status.attempts_of_oldest == 1
    assert status.last_error == "KafkaTimeoutError: broker gone"
    age = status.oldest_age_s(now=time.time() + 10)
    assert age is not None and 9 < age < 12


def test_concurrent_enqueues_keep_each_threads_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")

    def work(base: int) -> None:
        for n in range(base, base + 50):
            box.enqueue([event(n, key=str(base).encode())])

    threads = [threading.Thread(target=work, args=(b,)) for b in (0, 1000, 2000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = box.peek(1000)
    assert len(rows) == 150
    for base in (0, 1000, 2000):
        mine = [int(r.event.event_id[-12:]) for r in rows if r.event.key == str(base).encode()]
        assert mine == list(range(base, base + 50))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), max_size=60), st.integers(min_value=1, max_value=10))
def test_any_enqueue_deliver_interleaving_keeps_first_seen_order(numbers: list[int], limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(Path(tmp) / "o.db")
        expected: list[str] = []
        delivered: set[str] = set()
        for n in numbers:
            ev = event(n)
            if ev.event_id in delivered:
                continue
            if box.enqueue([ev]):
                expected.append(ev.event_id)
            if len(expected) % 3 == 0:
                head = box.peek(limit)
                box.record_delivered(Delivered("QLTT", r.event.event_id, r.event.topic, 0, 0) for r in head)
                delivered |= {r.event.event_id for r in head}
                expected = expected[len(head) :]
        assert [r.event.event_id for r in box.peek(1000)] == expected
        box.close()


# --------------------------------------------------------------------------- the delivered log


_ID_PARTS = st.sampled_from(
    ["0f1e2d3c-4b5a-4697-8", "0f1e2d3c-4b5a-4697-9", "a1b2c3d4-e5f6-5071-a"]
)  # same tails


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.builds(lambda head, tail: f"{head}{tail:03x}-{tail:012x}", _ID_PARTS, st.integers(0, 40))
        ),
        max_size=30,
    ),
    st.lists(st.text(min_size=1, max_size=12), max_size=5),
)
def test_the_delivered_log_answers_as_a_dict_would(batches: list[tuple[str]], others: list[str]) -> None:
    """UUIDs sharing their last 48 bits (the index key), texts that are no UUIDs, an id delivered twice."""
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(Path(tmp) / "o.db")
        expected: dict[tuple[str, str], Delivered] = {}
        for offset, (event_id,) in enumerate(batches):
            d = Delivered("QLTT", event_id, "agency.violations.v1", offset % 3, offset)
            box.record_delivered([d], from_outbox=False)
            expected[("QLTT", event_id)] = d  # the last delivery answers
        for n, text in enumerate(others):
            d = Delivered("CA", text, "agency.inspections.v1", 0, 1000 + n)
            box.record_delivered([d], from_outbox=False)
            expected[("CA", text)] = d
        unknown = [("QLTT", "0f1e2d3c-4b5a-4697-8fff-000000000fff"), ("QLTT", "x")]
        others_agency = [("SCT", event_id) for _, event_id in expected]  # same ids, another agency
        probes = [*expected, *unknown, *others_agency]
        assert box.known(probes) == expected
        box.close()


def test_id_key_is_the_uuid_head_or_a_digest() -> None:
    assert id_key("0f1e2d3c-4b5a-4697-8000-00000000002a") == 42
    assert id_key("not-a-uuid") == id_key("not-a-uuid") != id_key("not-a-uuie")
    assert 0 <= id_key("ffffffff-ffff-ffff-ffff-ffffffffffff") < 2**63


def test_a_file_of_the_earlier_layout_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE delivered (event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, partition INTEGER, "
        "offset INTEGER, delivered_at REAL NOT NULL) WITHOUT ROWID;"
    )
    db.execute(
        "INSERT INTO delivered VALUES (?, 'agency.violations.v1', 2, 7, ?)", (event(1).event_id, time.time())
    )
    db.commit()
    db.close()
    box = Outbox(path)
    # delivered before ids were scoped: no agency on record, so it answers for any agency
    for agency in ("QLTT", "CA"):
        assert box.known([(agency, event(1).event_id)]) == {
            (agency, event(1).event_id): Delivered(None, event(1).event_id, "agency.violations.v1", 2, 7)
        }
    assert box.status().delivered == 1
    tables = {r[0] for r in box._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "delivered" not in tables
    box.close()
    assert Outbox(path).status().delivered == 1  # opening again migrates nothing twice


def test_pruning_forgets_only_old_deliveries(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.record_delivered(
        [Delivered("QLTT", event(n).event_id, "agency.violations.v1", 0, n) for n in range(4)]
    )
    box._db.execute(
        "UPDATE delivered_log SET delivered_at = delivered_at - 86400 * 30 WHERE event_id IN (?, ?)",
        (event(0).event_id, event(1).event_id),
    )
    assert box.prune_delivered(older_than_s=86400 * 7) == 2
    assert set(box.known([("QLTT", event(n).event_id) for n in range(4)])) == {
        ("QLTT", event(2).event_id),
        ("QLTT", event(3).event_id),
    }


# --------------------------------------------------------------------------- ids scoped by agency


def of(agency: str, n: int) -> OutboundEvent:
    ev = event(n)
    ev.agency = agency
    ev.value = agency.encode() + ev.value
    return ev


def test_the_same_event_id_from_two_agencies_is_two_events(tmp_path: Path) -> None:
    """QLTT posts id S, CA posts another event with id S: both are queued, delivered, remembered."""
    box = Outbox(tmp_path / "gateway.db")
    assert box.enqueue([of("QLTT", 1)]) == [event(1).event_id]
    assert box.enqueue([of("CA", 1)]) == [event(1).event_id]
    assert box.enqueue([of("CA", 1)]) == []  # CA's own repeat is a duplicate
    assert [(r.event.agency, r.event.value) for r in box.peek()] == [
        ("QLTT", of("QLTT", 1).value),
        ("CA", of("CA", 1).value),
    ]
    box.record_delivered([Delivered("QLTT", event(1).event_id, "agency.violations.v1", 0, 5)])
    assert [r.event.agency for r in box.peek()] == ["CA"]  # only QLTT's row left the queue
    assert box.known(
        [("QLTT", event(1).event_id), ("CA", event(1).event_id), ("SCT", event(1).event_id)]
    ) == {
        ("QLTT", event(1).event_id): Delivered("QLTT", event(1).event_id, "agency.violations.v1", 0, 5),
        ("CA", event(1).event_id): None,
    }


def test_a_file_unique_on_event_id_alone_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL, agency TEXT NOT NULL,
            event_type TEXT NOT NULL, enqueued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT);
        CREATE TABLE delivered_log (seq INTEGER PRIMARY KEY, id_key INTEGER NOT NULL, event_id TEXT NOT NULL,
            topic TEXT NOT NULL, partition INTEGER, offset INTEGER, delivered_at REAL NOT NULL);
        """
    )
    ev = of("QLTT", 1)
    db.execute(
        "INSERT INTO outbox (event_id, topic, key, value, headers, agency, event_type, enqueued_at) "
        "VALUES (?, ?, ?, ?, '[]', ?, ?, ?)",
        (ev.event_id, ev.topic, ev.key, ev.value, ev.agency, ev.event_type, time.time()),
    )
    db.commit()
    db.close()
    box = Outbox(path)
    assert [(r.event.agency, r.event.value) for r in box.peek()] == [("QLTT", ev.value)]
    assert box.enqueue([of("CA", 1)]) == [ev.event_id]  # no longer refused by the old constraint
    assert box.pending_count() == 2
    assert box._db.execute("PRAGMA user_version").fetchone()[0] == 1
    box.close()
