"""core.fairness: how a batch of due jobs is shared between platforms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronstream_server.core.fairness import EVERY_PLATFORM, Demand, TickLane, shares

T = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def demand(platform: str, due: int, weight: int = 1, seconds: float = 0.0) -> Demand:
    return Demand(platform, due, T + timedelta(seconds=seconds), weight)


def test_a_platform_alone_gets_the_whole_batch() -> None:
    assert shares([demand("a", 20_000)], 1000) == {"a": 1000}


def test_a_platform_alone_with_less_due_gets_what_it_has() -> None:
    assert shares([demand("a", 7)], 1000) == {"a": 7}


def test_a_burst_leaves_a_small_platform_all_of_its_due_jobs() -> None:
    # A's 20,000 due at T come first by due instant; B's 20 a second later
    # are still claimed in this batch, and A gets the rest.
    assert shares([demand("a", 20_000), demand("b", 20, seconds=1)], 1000) == {
        "a": 980,
        "b": 20,
    }


def test_two_bursts_share_the_batch_evenly() -> None:
    assert shares([demand("a", 5000), demand("b", 5000, seconds=3)], 1000) == {
        "a": 500,
        "b": 500,
    }


def test_weights_split_the_batch_in_proportion() -> None:
    got = shares([demand("a", 5000, weight=3), demand("b", 5000, weight=1)], 1000)
    assert got == {"a": 750, "b": 250}


def test_what_a_small_platform_leaves_is_shared_again_by_weight() -> None:
    got = shares(
        [demand("a", 5000, weight=1), demand("b", 5000, weight=2), demand("c", 100, weight=1)],
        1000,
    )
    # c's fair share is 250 but it has 100: the other 900 go 1:2.
    assert got == {"a": 300, "b": 600, "c": 100}


def test_rounding_never_loses_places_and_gives_them_to_the_oldest_work() -> None:
    got = shares([demand("a", 900, seconds=2), demand("b", 900, seconds=1), demand("c", 900)], 1000)
    assert sum(got.values()) == 1000
    assert got == {"a": 333, "b": 333, "c": 334}


def test_a_tiny_weight_still_gets_a_place_in_every_batch() -> None:
    got = shares([demand("a", 5000, weight=1000), demand("b", 5000, weight=1)], 1000)
    assert got["b"] >= 1
    assert sum(got.values()) == 1000


def test_more_platforms_than_places_serve_the_oldest_work_first() -> None:
    demands = [demand(f"p{i}", 3, seconds=10 - i) for i in range(10)]
    assert shares(demands, 4) == {"p9": 1, "p8": 1, "p7": 1, "p6": 1}


def test_platforms_with_nothing_due_get_nothing() -> None:
    assert shares([demand("a", 0), demand("b", 3)], 1000) == {"b": 3}
    assert shares([], 1000) == {}


def test_the_batch_is_never_exceeded_whatever_the_weights() -> None:
    for weights in [(1, 1, 1), (7, 3, 1), (1000, 1, 1), (2, 2, 999)]:
        demands = [demand(str(i), 10_000, weight=w) for i, w in enumerate(weights)]
        got = shares(demands, 1000)
        assert sum(got.values()) == 1000, weights
        assert all(count >= 1 for count in got.values()), weights


def test_the_main_lane_takes_at_most_its_cap_of_each_platform() -> None:
    lane = TickLane(frozenset({"a"}), bulk=False, cap=100)
    served = lane.capped([demand("b", 20), demand("c", 700)])
    assert served == [demand("b", 20), demand("c", 100)]
    # A burst the main lane sees (before it goes to the bulk lane) gets its
    # cap of the batch, and the rest goes to the others.
    assert shares(TickLane(cap=100).capped([demand("a", 5000), demand("b", 20)]), 1000) == {
        "a": 100,
        "b": 20,
    }


def test_the_bulk_lane_takes_whole_batches() -> None:
    lane = TickLane(frozenset({"a"}), bulk=True)
    assert lane.capped([demand("a", 5000)]) == [demand("a", 5000)]


def test_a_platform_with_a_full_main_lane_share_due_is_bursting() -> None:
    lane = TickLane(cap=100)
    assert lane.bursting({"a": 100, "b": 99, "c": 1000}) == {"a", "c"}
    # The bulk lane and a lane without a cap (one writer: SQLite) find none.
    assert TickLane(frozenset({"a"}), bulk=True).bursting({"a": 1000}) == set()
    assert EVERY_PLATFORM.bursting({"a": 1000}) == set()
