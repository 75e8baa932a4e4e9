"""``pw.this``, ``pw.left`` and ``pw.right``: references to columns by name, bound later."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reflow.plan.expr import ThisReference


class ThisSide:
    """``pw.this``, ``pw.left`` and ``pw.right``: column references by name, bound later.

    >>> import reflow as pw
    >>> pw.this.price
    pw.this.price
    """

    _side: str

    def __init__(self, side: str) -> None:
        object.__setattr__(self, "_side", side)

    def __getattr__(self, name: str) -> ThisReference:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return ThisReference(self._side, name)

    def __getitem__(self, name: str | list[str]) -> Any:
        if isinstance(name, list):
            return [ThisReference(self._side, n) for n in name]
        return ThisReference(self._side, name)

    def without(self, *columns: Any) -> ThisWithout:
        """All columns of the table but ``columns`` (in ``select``)."""
        names = [c if isinstance(c, str) else c.name for c in columns]
        return ThisWithout(self._side, names)

    def __iter__(self) -> Iterator[ThisWithout]:
        return iter([ThisWithout(self._side, [])])

    def __repr__(self) -> str:
        return f"pw.{self._side}"


class ThisWithout:
    """``pw.this.without("a")``: every column of the table except some."""

    def __init__(self, side: str, names: list[str]) -> None:
        self.side = side
        self.names = names

    def __iter__(self) -> Iterator[ThisWithout]:
        return iter([self])


this = ThisSide("this")
left = ThisSide("left")
right = ThisSide("right")
