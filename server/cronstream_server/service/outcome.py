"""A use case's result and the signals it asks to publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from cronstream_server.core.signals import Signal

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T
    signals: tuple[Signal, ...] = ()
