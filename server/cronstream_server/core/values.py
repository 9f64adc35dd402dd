"""`value_type`: the core's value types, immutable to the type checker and cheap
to build.

A frozen dataclass sets each field through `object.__setattr__` (its way
round its own frozen check): 3.4 us to build an Execution's 33 fields against
0.6 us for a plain slotted dataclass. The hot path builds about ten values
per execution (a job and its spec per row, an execution per slot, a pending
one per claim, a settlement per result...): in W1's profile frozen
constructors were 13 % of the server's CPU.

`value_type` declares a class frozen to mypy (PEP 681's `frozen_default`), which
refuses every assignment to a field of it in the code it checks (`make
lint`), and builds it at run time as a slotted dataclass that compares and
hashes by its fields as a frozen one does. `dataclasses.replace` makes the
changed copies, as before.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def value_type(cls: type[T]) -> type[T]:
    return dataclasses.dataclass(slots=True, unsafe_hash=True)(cls)
