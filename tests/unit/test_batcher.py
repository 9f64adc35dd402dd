"""The batcher holds what it received through a database outage of any length,
pushes back when its memory budget is full, and gives up only an item the
database refuses, never the batch around it."""

from __future__ import annotations

import asyncio

import pytest
from cronstream_server.core.errors import Unavailable
from cronstream_server.engine import batcher as batcher_module
from cronstream_server.engine.batcher import Batcher


class Database:
    """A write target that can be down, or refuse some values."""

    def __init__(self) -> None:
        self.up = True
        self.refused: set[int] = set()
        self.stored: list[int] = []
        self.tries = 0

    async def write(self, batch: list[int]) -> None:
        self.tries += 1
        if not self.up:
            raise Unavailable("database unavailable: ConnectionRefusedError")
        if self.refused.intersection(batch):
            raise ValueError("a value the database cannot store")
        self.stored.extend(batch)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batcher_module, "_FIRST_PAUSE", 0.01)
    monkeypatch.setattr(batcher_module, "_MAX_PAUSE", 0.05)


async def test_an_outage_holds_every_item_until_the_database_is_back() -> None:
    database = Database()
    batcher = Batcher[int]("results", database.write, linger=0.001)
    batcher.start()
    database.up = False
    for item in range(100):
        await batcher.put(item)
    await asyncio.sleep(0.5)  # far more than the three tries that used to give up
    assert database.stored == [] and database.tries > 5
    assert batcher.pending == 100

    database.up = True
    async with asyncio.timeout(2.0):
        await batcher.flush()
    assert database.stored == list(range(100))  # all of them, in order, once
    assert batcher.pending == 0
    await batcher.stop()


async def test_a_full_budget_makes_the_producer_wait() -> None:
    database = Database()
    database.up = False
    batcher = Batcher[int](
        "logs", database.write, linger=0.001, max_bytes_queued=1000, weigh=lambda _: 300
    )
    batcher.start()
    for item in range(3):
        await batcher.put(item)  # 900 bytes held
    fourth = asyncio.create_task(batcher.put(3))
    await asyncio.sleep(0.1)
    assert not fourth.done()  # 1,200 bytes would pass the budget: the stream waits

    database.up = True
    async with asyncio.timeout(2.0):
        await fourth
        await batcher.flush()
    assert database.stored == [0, 1, 2, 3]
    await batcher.stop()


async def test_only_the_item_the_database_refuses_is_given_up() -> None:
    database = Database()
    database.refused = {13}
    batcher = Batcher[int]("results", database.write, linger=0.05)
    batcher.start()
    for item in range(20):
        await batcher.put(item)
    async with asyncio.timeout(2.0):
        await batcher.flush()
    assert database.stored == [n for n in range(20) if n != 13]
    await batcher.stop()


async def test_stop_gives_up_waiting_for_an_unreachable_database() -> None:
    database = Database()
    database.up = False
    batcher = Batcher[int]("heartbeats", database.write, linger=0.001)
    batcher.start()
    await batcher.put(1)
    async with asyncio.timeout(2.0):
        await batcher.stop(grace=0.2)
    assert database.stored == []
