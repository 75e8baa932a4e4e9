"""Value types that cells can hold besides plain Python scalars."""

from __future__ import annotations

import json
from typing import Any

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Pointer:
    """A reference to a row: its 128-bit id.

    >>> Pointer(5) == Pointer(5), str(Pointer(0))
    (True, '^0000000000000000000000000')
    """

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = int(value)

    def __class_getitem__(cls, item: object) -> type:
        """``pw.Pointer[Schema]`` as a type annotation: the class itself."""
        return cls

    def __int__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pointer) and other.value == self.value

    def __lt__(self, other: Pointer) -> bool:
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(("Pointer", self.value))

    def __str__(self) -> str:
        digits = []
        value = self.value
        for _ in range(26):
            digits.append(_ALPHABET[value & 31])
            value >>= 5
        return "^" + "".join(reversed(digits))[1:]

    def __repr__(self) -> str:
        return f"Pointer({self!s})"


class Json:
    """A JSON value (dict, list, str, number, bool or None) held in a cell.

    >>> Json({"a": [1, 2]})["a"][1]
    pw.Json(2)
    >>> Json((1, 2)), str(Json({"w": "żółw"}))
    (pw.Json([1, 2]), '{"w": "żółw"}')
    """

    __slots__ = ("value",)

    NULL: Json

    def __init__(self, value: Any) -> None:
        value = value.value if isinstance(value, Json) else value
        # A tuple is a JSON array, as it becomes after a round trip through JSON text.
        self.value: Any = list(value) if isinstance(value, tuple) else value

    def __getitem__(self, key: Any) -> Json:
        return Json(self.value[key])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Json) and other.value == self.value

    def __hash__(self) -> int:
        return hash(json.dumps(self.value, sort_keys=True, default=repr))

    def __str__(self) -> str:
        return json.dumps(self.value, default=repr, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"pw.Json({self.value!r})"

    def as_int(self) -> int | None:
        """The value as an int, or ``None`` for JSON null."""
        return _json_as(self.value, int)

    def as_float(self) -> float | None:
        """The value as a float, or ``None`` for JSON null."""
        return _json_as(self.value, float)

    def as_str(self) -> str | None:
        """The value as a str, or ``None`` for JSON null."""
        return _json_as(self.value, str)

    def as_bool(self) -> bool | None:
        """The value as a bool, or ``None`` for JSON null."""
        return _json_as(self.value, bool)

    def as_list(self) -> list | None:
        """The value as a list, or ``None`` for JSON null."""
        return _json_as(self.value, list)

    def as_dict(self) -> dict | None:
        """The value as a dict, or ``None`` for JSON null."""
        return _json_as(self.value, dict)

    @staticmethod
    def parse(text: str | bytes) -> Json:
        """Parse JSON text."""
        return Json(json.loads(text))

    @staticmethod
    def dumps(value: Any) -> str:
        """Serialize a value (or a ``Json``) to JSON text."""
        return json.dumps(value.value if isinstance(value, Json) else value, default=repr)


Json.NULL = Json(None)


def _json_as(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        article = "an" if kind.__name__[0] in "aeiou" else "a"
        raise ValueError(f"cannot convert JSON value {value!r} to {article} {kind.__name__}")
    return value


class PyObjectWrapper:
    """Wraps an arbitrary Python object so it can travel through a table.

    >>> PyObjectWrapper([1, 2]).value
    [1, 2]
    """

    def __class_getitem__(cls, item: object) -> type:
        """``pw.PyObjectWrapper[T]`` as a type annotation: the class itself."""
        return cls

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PyObjectWrapper) and other.value == self.value

    def __hash__(self) -> int:
        return hash(repr(self.value))

    def __repr__(self) -> str:
        return f"PyObjectWrapper({self.value!r})"


class ErrorValue:
    """The value of a cell whose computation failed; shown as ``Error``."""

    _instance: ErrorValue | None = None

    def __new__(cls) -> ErrorValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Error"


ERROR = ErrorValue()


def wrap_py_object(value: Any) -> PyObjectWrapper:
    """Wrap ``value`` in a ``PyObjectWrapper``."""
    return PyObjectWrapper(value)
