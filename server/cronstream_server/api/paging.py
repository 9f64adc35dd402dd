"""List pages that fit in one gRPC message.

page_size alone does not bound a page's bytes: 50 jobs at the 256 KiB payload
limit are 12.5 MiB, and grpc fails a response over the server's message limit
with RESOURCE_EXHAUSTED (the caller sees an error, the server logs an
ExecuteBatchError). So every list RPC also cuts its page by bytes: the page
ends after the last item that fits, and its next_page_token is that item's
keyset key, so paging through still yields every item exactly once and in
order. AIP-158 allows a page to hold fewer than page_size items; only an
empty next_page_token means the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

T = TypeVar("T")
M = TypeVar("M", bound=Message)

# What a page leaves of the message limit for the rest of its response: the
# next_page_token field (about 150 bytes today) and any field a list response
# gains later. Each item's own framing is counted with the item, so this need
# not grow with the page; 64 KiB is ample and still only 6% of the smallest
# limit the server accepts (1 MiB, config.MIN_MESSAGE_BYTES).
RESPONSE_HEADROOM_BYTES = 64 * 1024
# An item of a repeated message field goes on the wire as its field tag and its
# length (varints of at most 5 bytes each) before its own bytes.
ITEM_FRAMING_BYTES = 10


def page_budget(max_message_bytes: int) -> int:
    """The bytes a page's items may fill under the server's message limit."""
    return max(max_message_bytes - RESPONSE_HEADROOM_BYTES, 0)


@dataclass(frozen=True, slots=True)
class Page(Generic[T, M]):
    """The messages to send, and the item whose key the next page starts after."""

    messages: list[M]
    # The last item kept when another page follows (cut here for size, or the
    # store has more rows), else None: the page is the last.
    last: T | None


def fit_page(
    items: Sequence[T], convert: Callable[[T], M], *, more: bool, budget: int
) -> Page[T, M]:
    """The messages of the leading `items` whose wire size fits in `budget`
    bytes; always at least one, so a page never stalls on a large item (one
    past the message limit fails as GetJob on it would). `more` says whether
    the store holds rows past `items`. Items are converted as they are
    measured, so a cut page converts only the first row it leaves out."""
    messages: list[M] = []
    used = 0
    for item in items:
        message = convert(item)
        used += message.ByteSize() + ITEM_FRAMING_BYTES
        if messages and used > budget:
            return Page(messages, items[len(messages) - 1])
        messages.append(message)
    return Page(messages, items[-1] if more and items else None)
