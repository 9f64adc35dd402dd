"""Identifiers: UUIDv7 (RFC 9562), time-ordered so new rows land at the end of
their B-tree index instead of at random pages."""

from __future__ import annotations

import os
import re
import time


def new_id() -> str:
    """A new UUIDv7 as its canonical 36-character string."""
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 68) << 64  # 12 random bits (rand_a)
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # 62 random bits (rand_b)
    # What str(uuid.UUID(int=value)) gives, in a third less time (one per execution).
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


# A canonical UUID string, either case (what str(uuid.UUID(...)) gives, lowered).
_CANONICAL = re.compile(
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE | re.ASCII
)


def is_valid_id(candidate: str) -> bool:
    """True when `candidate` is a canonical UUID string; anything else names no
    row. A pattern rather than parsing with uuid.UUID: every result a worker
    sends is checked, and the match costs a fifth of the parse."""
    return _CANONICAL.fullmatch(candidate) is not None
