"""api.paging.fit_page: a list page cut by bytes, measured on real messages."""

from __future__ import annotations

from dataclasses import dataclass

from cronstream.v1 import execution_pb2
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.api.paging import (
    ITEM_FRAMING_BYTES,
    RESPONSE_HEADROOM_BYTES,
    fit_page,
    page_budget,
)
from hypothesis import given
from hypothesis import strategies as st

MiB = 1024 * 1024


@dataclass(frozen=True)
class Line:
    """Stands in for a domain row: what the page token would be made from."""

    id: int
    text: str


def message(line: Line) -> execution_pb2.ExecutionLog:
    return execution_pb2.ExecutionLog(execution_id="e", message=line.text, attempt=1)


def lines(*lengths: int) -> list[Line]:
    return [Line(i, "x" * n) for i, n in enumerate(lengths)]


def cost(line: Line) -> int:
    """What fit_page counts for an item: its bytes and its framing."""
    return message(line).ByteSize() + ITEM_FRAMING_BYTES


def test_the_budget_leaves_the_headroom_under_the_message_limit() -> None:
    assert RESPONSE_HEADROOM_BYTES == 64 * 1024
    assert page_budget(4 * MiB) == 4 * MiB - 64 * 1024 == 4_128_768
    assert page_budget(1 * MiB) == 983_040
    assert page_budget(1000) == 0  # never negative: a page then holds one item


def test_a_page_that_fits_is_kept_whole() -> None:
    items = lines(10, 20, 30)
    last_page = fit_page(items, message, more=False, budget=10_000)
    assert [m.message for m in last_page.messages] == ["x" * 10, "x" * 20, "x" * 30]
    assert last_page.last is None
    # The store has more rows: the next page starts after the last one here.
    middle = fit_page(items, message, more=True, budget=10_000)
    assert len(middle.messages) == 3 and middle.last == items[2]


def test_the_page_is_cut_after_the_last_item_that_fits() -> None:
    items = lines(1000, 1000, 1000, 1000)
    each = cost(items[0])
    # The text with its tag and 2-byte length, execution_id "e", attempt 1, framing.
    assert each == (1000 + 3) + 3 + 2 + ITEM_FRAMING_BYTES == 1018

    exact = fit_page(items, message, more=False, budget=3 * each)
    assert len(exact.messages) == 3 and exact.last == items[2]
    short = fit_page(items, message, more=False, budget=3 * each - 1)
    assert len(short.messages) == 2 and short.last == items[1]


def test_an_item_larger_than_the_budget_still_makes_a_page_of_one() -> None:
    items = lines(5000, 10)
    page = fit_page(items, message, more=False, budget=100)
    assert [len(m.message) for m in page.messages] == [5000]
    assert page.last == items[0]  # the small one follows on the next page
    alone = fit_page(items[:1], message, more=False, budget=100)
    assert len(alone.messages) == 1 and alone.last is None


def test_no_items_no_page() -> None:
    page = fit_page([], message, more=False, budget=100)
    assert page.messages == [] and page.last is None


def test_items_past_the_cut_are_not_converted() -> None:
    converted: list[int] = []

    def counting(line: Line) -> execution_pb2.ExecutionLog:
        converted.append(line.id)
        return message(line)

    items = lines(*[100] * 50)
    page = fit_page(items, counting, more=False, budget=5 * cost(items[0]))
    assert len(page.messages) == 5
    assert converted == [0, 1, 2, 3, 4, 5]  # the sixth was measured, and left out


@given(
    lengths=st.lists(st.integers(0, 70_000), max_size=30),
    budget=st.integers(0, 600_000),
    more=st.booleans(),
)
def test_pages_fit_on_the_wire_and_lose_nothing(
    lengths: list[int], budget: int, more: bool
) -> None:
    items = lines(*lengths)
    page = fit_page(items, message, more=more, budget=budget)
    kept = len(page.messages)
    assert [m.message for m in page.messages] == [line.text for line in items[:kept]]
    if items:
        assert kept >= 1
    # The serialized page (its items, before the token) is within the budget,
    # unless it is a single item larger than the budget by itself.
    wire = pb.ListExecutionLogsResponse(logs=page.messages).ByteSize()
    assert wire <= budget or kept == 1
    if kept < len(items):
        # Cut: one more item would not have fitted, and paging resumes after
        # the last one kept.
        assert sum(cost(line) for line in items[: kept + 1]) > budget
        assert page.last == items[kept - 1]
    else:
        assert page.last == (items[-1] if more and items else None)
