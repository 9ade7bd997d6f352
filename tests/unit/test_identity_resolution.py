"""Identity resolution: transitive links, merges, warninglist and the hot-token guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.identity import (
    IdentityResolver,
    TokenHasher,
    Warninglist,
    WarninglistEntry,
    WarninglistError,
    load_warninglist,
)


def resolver(**kwargs: object) -> IdentityResolver:
    return IdentityResolver.in_memory(**kwargs)  # type: ignore[arg-type]


def test_transitive_links_put_three_events_in_one_cluster() -> None:
    r = resolver()
    a = r.resolve("e1", ["tax:0101234567", "phone:+84912345678"])
    b = r.resolve("e2", ["phone:+84912345678", "bank:970436:0011001234567"])
    c = r.resolve("e3", ["bank:970436:0011001234567", "shop:shopee:123"])
    assert a.new_cluster and not b.new_cluster and not c.new_cluster
    assert a.cluster_id == b.cluster_id == c.cluster_id
    assert r.cluster_of("tax:0101234567") == r.cluster_of("shop:shopee:123")


def test_unrelated_sellers_stay_apart() -> None:
    r = resolver()
    a = r.resolve("e1", ["tax:0101234567"])
    b = r.resolve("e2", ["tax:0309876543"])
    assert a.cluster_id != b.cluster_id


def test_linking_event_merges_two_clusters_into_the_smallest_id() -> None:
    r = resolver()
    a = r.resolve("e1", ["tax:0101234567"])
    b = r.resolve("e2", ["phone:+84987654321"])
    merge = r.resolve("e3", ["tax:0101234567", "phone:+84987654321"])
    survivor = min(a.cluster_id, b.cluster_id)
    assert merge.cluster_id == survivor
    assert merge.absorbed == [max(a.cluster_id, b.cluster_id)]
    assert r.cluster_of("phone:+84987654321") == r.cluster_of("tax:0101234567") == survivor
    # a later event naming only the absorbed cluster's token resolves to the survivor
    assert r.resolve("e4", ["phone:+84987654321"]).cluster_id == survivor


def test_same_event_twice_changes_nothing_and_answers_the_same() -> None:
    r = resolver()
    r.resolve("e1", ["tax:0101234567"])
    r.resolve("e2", ["phone:+84987654321"])
    first = r.resolve("e3", ["tax:0101234567", "phone:+84987654321"])
    state = (dict(r.token_root), dict(r.parent), dict(r.neighbours))
    again = r.resolve("e3", ["tax:0101234567", "phone:+84987654321"])
    assert again.duplicate and again.cluster_id == first.cluster_id and again.absorbed == first.absorbed
    assert (dict(r.token_root), dict(r.parent), dict(r.neighbours)) == state


def test_warninglisted_token_does_not_link() -> None:
    wl = Warninglist.from_entries(
        [
            WarninglistEntry(token="bank:970436:0071000888888", reason="marketplace escrow account"),
            WarninglistEntry(token="phone:+841900*", reason="call centres"),
        ]
    )
    r = resolver(warninglist=wl)
    a = r.resolve("e1", ["tax:0101234567", "bank:970436:0071000888888", "phone:+8419001234"])
    b = r.resolve("e2", ["tax:0309876543", "bank:970436:0071000888888", "phone:+8419001234"])
    assert a.cluster_id != b.cluster_id
    assert set(b.skipped.values()) == {"warninglist"}
    assert "bank:970436:0071000888888" not in b.tokens


def test_hot_token_stops_linking_after_the_limit() -> None:
    r = resolver(hot_token_limit=3)
    courier = "phone:+84888000111"
    clusters = [r.resolve(f"e{i}", [f"tax:01000000{i:02d}", courier]).cluster_id for i in range(6)]
    # seen with clusters 1..3 it still links; the 4th distinct cluster makes it hot
    assert len(set(clusters[:3])) == 1
    assert clusters[3] != clusters[0] and clusters[4] != clusters[0] and clusters[3] != clusters[4]
    assert courier in r.hot and r.hot[courier]["clusters"] == 4
    later = r.resolve("e9", [courier, "tax:0100000099"])
    assert later.skipped == {courier: "hot"} and later.cluster_id != clusters[0]


def test_hmac_hashing_keeps_no_raw_token_in_state() -> None:
    r = resolver(hasher=TokenHasher(b"secret"))
    res = r.resolve("e1", ["nid:001203012345", "phone:+84912345678"])
    r.resolve("e2", ["nid:001203012345"])
    flat = repr((r.token_root, r.parent, r.memo))
    assert "001203012345" not in flat and "912345678" not in flat
    assert all(t.startswith(("nid:h", "phone:h")) for t in res.tokens)
    assert r.cluster_of("nid:001203012345") == res.cluster_id
    assert TokenHasher(b"other")("nid:001203012345") != TokenHasher(b"secret")("nid:001203012345")


def test_normalised_spellings_of_one_seller_link() -> None:
    identity = pytest.importorskip("schemas.identity")
    models = pytest.importorskip("schemas.models")
    a = models.SellerRef(phones=["0912 345 678"], tax_codes=["0101234567"])
    b = models.SellerRef(phones=["+84912345678"], e_wallets=[{"provider": "momo", "account": "0988111222"}])
    r = resolver()
    first = r.resolve("e1", identity.seller_tokens(a))
    second = r.resolve("e2", identity.seller_tokens(b))
    assert first.cluster_id == second.cluster_id


def test_shipped_warninglist_loads_with_a_reason_per_entry() -> None:
    wl = load_warninglist()
    assert wl.matches("web:shopee.vn") and wl.matches("phone:+8419001234567")
    assert all(len(reason) > 10 for reason in wl.reasons.values())


def test_malformed_warninglist_names_entry_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "wl.yaml"
    bad.write_text(
        "entries:\n  - token: 'web:x.vn'\n    reason: ok fine\n  - token: 'no-kind'\n    reason: 'x y z'\n"
    )
    with pytest.raises(WarninglistError, match=r"entry 1: token: String should match pattern"):
        load_warninglist(bad)


tokens = st.sampled_from([f"tax:01000000{i:02d}" for i in range(12)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(tokens, min_size=1, max_size=3), min_size=1, max_size=15), st.randoms())
def test_clusters_are_the_connected_components_whatever_the_order(
    events: list[list[str]], rnd: object
) -> None:
    """Union-find must give the same partition of tokens as graph components, in any event order."""
    order = list(range(len(events)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    r = resolver(hot_token_limit=1000)
    for i in order:
        r.resolve(f"e{i}", events[i])
    # reference components by repeated relaxation
    comp = {t: t for ev in events for t in ev}
    changed = True
    while changed:
        changed = False
        for ev in events:
            low = min(comp[t] for t in ev)
            for t in ev:
                if comp[t] != low:
                    comp[t] = low
                    changed = True
    all_tokens = sorted(comp)
    for x in all_tokens:
        for y in all_tokens:
            assert (comp[x] == comp[y]) == (r.cluster_of(x) == r.cluster_of(y))
