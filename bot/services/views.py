"""Frozen views of database rows: what a service hands out instead of the ORM object, which stays in its session.

Most views repeat the columns of their row under the same names; `from_row` copies those, so a view names only what
it adds or shows differently.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

View = TypeVar("View")


@functools.cache
def _field_names(view: type[Any]) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(view))


def from_row(view: type[View], row: object, **given: Any) -> View:
    """The dataclass `view` of `row`: each field is `given`, or else the row's attribute of the same name."""
    copied = {name: getattr(row, name) for name in _field_names(view) if name not in given}
    return view(**copied, **given)
