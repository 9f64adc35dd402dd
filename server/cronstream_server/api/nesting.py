"""How deeply a JSON value (a `google.protobuf.Struct`) may nest, and why.

Protobuf's decoders give up past 100 nested messages (upb, the one in
grpcio's Python, counts them below the outermost), and every level of JSON
nesting costs three: Struct -> map entry -> Value (ListValue -> Value: two).
32 levels fit, with room to spare, in every message that carries a JSON
value: the deepest request place is `results.results[i].success.result` of
the worker stream (four messages in), the deepest response place
`assignments.assignments[i].payload` (three). A 33rd level would not fit
there, so a value that deep is refused when it comes in, rather than stored
and later unreadable by the clients that must receive it.
"""

from __future__ import annotations

from typing import Any

MAX_JSON_DEPTH = 32
TOO_DEEP = f"nests objects and lists more than {MAX_JSON_DEPTH} levels deep"


def json_depth(value: Any) -> int:
    """Levels of objects and lists in a JSON value: 0 for a scalar, 1 for
    `{"a": 1}` or `[]`, 2 for `{"a": [1]}`."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:  # a loop, not recursion: the depth is what is in question
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        pending.extend((child, level + 1) for child in children)
    return deepest
