"""Saving a piece of engine state to bytes and loading it back.

Every stateful operator and every arrangement it owns derives from ``Snapshottable`` and names
the attributes that make up its state in ``state_fields``; whatever is not named (kernels,
schemas, configuration) is rebuilt by constructing the operator again from the same plan.

The bytes hold one pickle of the named attributes in which the bulky parts are stored beside it
in binary formats meant for them:

* Polars frames and series go out as Arrow IPC streams. Columns of dtype ``Object`` (Python
  values Arrow cannot describe) are taken out of the frame and pickled as lists.
* numpy arrays of numbers go out in numpy's ``.npy`` format (never pickled).
* nested state objects (a ``KeyIndex`` inside a join, the ``RowStore`` of each input ...)
  are saved through their own ``state_fields`` and loaded back *into* the freshly built
  object, so their configuration is not saved at all.
* fields a class names in ``plain_fields`` (dictionaries and lists of numbers, strings and
  tuples of them, such as the slot of each group) are pickled in one call each, as a part of
  their own: the pickler then does not look at each of their objects, which costs most of
  the time of a snapshot of a state with many small entries.

A state that grows mostly by appending (a join's log of rows) can also save only what
changed since an earlier save: ``checkpoint_mark()`` names the state as it is now, and
``snapshot_delta(mark)`` later returns the changes since then, which ``restore_delta`` applies
to the state restored as of that mark. A class names the nested states that do this in
``delta_fields`` (its other fields go whole into each delta); a leaf state (``KeyIndex``)
implements ``checkpoint_mark``, ``delta_state`` and ``load_delta`` itself. Restoring is the
base snapshot, then its deltas in order.

Everything else named by ``state_fields`` -- dictionaries and lists of ids and counts, sorted
containers, and the Python values some operators keep per row (reducer accumulators, the
values of ``Object`` columns, the results of non-deterministic UDFs) -- is pickled. A snapshot
is therefore only as portable as those Python values, and must only be loaded from a trusted
place: loading a pickle can run code.

>>> import numpy as np, polars as pl
>>> class Counter(Snapshottable):
...     state_fields = ("counts", "log", "totals")
...     def __init__(self):
...         self.counts, self.log, self.totals = {}, None, np.zeros(2)
>>> c = Counter()
>>> c.counts, c.log, c.totals = {7: 2}, pl.DataFrame({"x": [1, 2]}), np.array([1.5, 2.5])
>>> fresh = Counter()
>>> fresh.restore(c.snapshot())
>>> fresh.counts, fresh.log["x"].to_list(), fresh.totals.tolist()
({7: 2}, [1, 2], [1.5, 2.5])
"""

from __future__ import annotations

import contextlib
import gc
import io
import pickle
import struct
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple, cast

import polars as pl

from reflow.engine.lazy_modules import imported_on_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

_MAGIC = b"RFLWSTATE1"
_LENGTH = struct.Struct("<Q")


class SnapshotError(RuntimeError):
    """A snapshot that cannot be taken, or cannot be restored into this state."""


class Snapshottable:
    """State that can be saved to bytes and restored into a freshly built twin.

    Subclasses list the attributes holding their state in ``state_fields``. ``snapshot()``
    returns bytes; ``restore(data)`` loads them into this object, which must have been built
    with the same configuration as the one that was saved. A subclass whose state is created
    lazily provides ``new_state(field)``, which builds the empty nested state to load into.
    """

    state_fields: tuple[str, ...] = ()
    #: The fields among ``state_fields`` that hold no nested state and no Polars frame, at any
    #: depth: pickled whole, in one call (a numpy array inside is pickled like the rest).
    plain_fields: tuple[str, ...] = ()
    #: The version of the layout of this class's state: raised whenever ``state_fields`` or
    #: what they hold change, so that an older snapshot is refused with a clear error.
    state_version: int = 1

    def snapshot(self) -> bytes:
        """This object's state, as bytes (see the module docstring for the format)."""
        return encode(_fields(self))

    def restore(self, data: bytes) -> None:
        """Load a state returned by ``snapshot()`` of an object built like this one."""
        with _collection_paused():
            self.load_state(decode(data))

    def state(self) -> dict[str, Any]:
        """The named attributes; a subclass may refuse (``SnapshotError``) when it is busy."""
        return {name: getattr(self, name) for name in self.state_fields}

    def load_state(self, fields: dict[str, Any]) -> None:
        """Set the named attributes; nested states are loaded into the existing objects."""
        unknown = set(fields) - set(self.state_fields)
        if unknown:
            raise SnapshotError(
                f"{type(self).__name__} has no state field(s) {sorted(unknown)}"
            )
        for name, value in fields.items():
            setattr(self, name, _load_into(self, name, getattr(self, name, None), value))

    # --- incremental saves -------------------------------------------------------------------
    #: The fields among ``state_fields`` holding nested states that save their changes only
    #: (``snapshot_delta``); the other fields are saved whole in every delta.
    delta_fields: tuple[str, ...] = ()

    def checkpoint_mark(self) -> object | None:
        """A value standing for the state as it is now, to ask ``snapshot_delta`` later for
        what changed since; None when this state cannot save its changes alone."""
        if not self.delta_fields:
            return None
        marks = []
        for name in self.delta_fields:
            mark = getattr(self, name).checkpoint_mark()
            if mark is None:
                return None
            marks.append(mark)
        return tuple(marks)

    def snapshot_delta(self, mark: object) -> bytes | None:
        """What changed since ``checkpoint_mark()`` returned ``mark``, as bytes for
        ``restore_delta``; None when the changes cannot be told apart from the rest (the
        state was rewritten, e.g. compacted): then the caller saves a whole ``snapshot()``."""
        delta = self.delta_state(mark)
        return None if delta is None else encode(delta)

    def restore_delta(self, data: bytes) -> None:
        """Apply a ``snapshot_delta`` to this state, restored as of the mark it was taken
        against (its base snapshot and the deltas before it, in order)."""
        with _collection_paused():
            self.load_delta(decode(data))

    def delta_state(self, mark: object) -> dict[str, Any] | None:
        """``snapshot_delta`` before encoding: nested deltas stay dictionaries, so that their
        bulky parts are encoded once, with the whole delta."""
        assert isinstance(mark, tuple) and len(mark) == len(self.delta_fields)
        deltas = {}
        for name, nested_mark in zip(self.delta_fields, mark, strict=True):
            delta = getattr(self, name).delta_state(nested_mark)
            if delta is None:
                return None
            deltas[name] = delta
        rest = {name: value for name, value in _fields(self).items()
                if name not in self.delta_fields}
        return {"deltas": deltas, "fields": rest}

    def load_delta(self, delta: dict[str, Any]) -> None:
        """Apply a decoded ``delta_state``."""
        for name, nested in delta["deltas"].items():
            if name not in self.delta_fields:
                raise SnapshotError(f"{type(self).__name__} has no incremental field {name!r}")
            getattr(self, name).load_delta(nested)
        self.load_state(delta["fields"])

    def new_state(self, field: str) -> Snapshottable:
        """An empty nested state for ``field`` when none was built yet (lazily created)."""
        raise SnapshotError(f"{type(self).__name__}.{field} cannot be created on restore")


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: a restore creates many containers (a dict
    entry or a list per key), all kept, and each run of the collector they set off would
    traverse all of them again -- half the time of restoring a large index."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Nested:
    """A nested state as decoded: its fields, waiting to be loaded into a built object."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields


def _load_into(owner: Snapshottable, name: str, current: Any, value: Any) -> Any:
    if isinstance(value, _Nested):
        target = current if isinstance(current, Snapshottable) else owner.new_state(name)
        target.load_state(value.fields)
        return target
    if isinstance(value, list) and any(isinstance(v, _Nested) for v in value):
        if not isinstance(current, list) or len(current) != len(value):
            raise SnapshotError(f"{type(owner).__name__}.{name}: a different number of states")
        return [_load_into(owner, name, c, v) for c, v in zip(current, value, strict=True)]
    return value


class SavedState(NamedTuple):
    """An operator's state as saved for a checkpoint (``Dataflow.save_states``)."""

    #: The bytes: a whole ``snapshot()``, or a ``snapshot_delta`` when ``delta``; either
    #: one ``bytes`` or the pieces that make it up, in order (``encode_pieces``).
    data: bytes | list[bytes]
    #: Whether ``data`` holds only the changes since the mark it was asked for.
    delta: bool
    #: The ``checkpoint_mark()`` of the state saved (for the next delta); None: no deltas.
    mark: object | None

    @property
    def blob(self) -> bytes:
        """``data`` as one ``bytes`` (for ``restore`` or ``restore_delta``)."""
        data = self.data
        return data if isinstance(data, bytes) else b"".join(data)


def save_state(state: Snapshottable, mark: object | None) -> SavedState:
    """``state`` saved as the changes since ``mark`` when it can be, else whole: the bytes
    of ``snapshot_delta`` or ``snapshot``, as pieces (not joined: the checkpoint writes
    them one after the other, and a join would copy every byte of the state once more)."""
    if mark is not None:
        delta = state.delta_state(mark)
        if delta is not None:
            return SavedState(encode_pieces(delta), True, state.checkpoint_mark())
    data = encode_pieces(_fields(state))
    return SavedState(data, False, state.checkpoint_mark())


# --- the byte format ---------------------------------------------------------------------------
#
# MAGIC, then length-prefixed blobs: the pickle first, then one blob per binary part it refers
# to (by position).


_PLAIN = frozenset({int, str, float, bool, bytes, tuple, list, dict, set, type(None)})


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, parts: list[bytes | list[bytes]]) -> None:
        super().__init__(file, protocol=5)
        self.parts = parts
        self.seen: dict[int, tuple] = {}
        self.keep: list[Any] = []  # keeps ids in ``seen`` from being reused

    def persistent_id(self, obj: Any) -> tuple | None:
        if type(obj) in _PLAIN:  # most of what a state holds: answered without isinstance
            return None
        if isinstance(obj, Snapshottable):
            return ("state", _fields(obj))
        if type(obj) is _Plain:
            self.parts.append(pickle.dumps(obj.value, protocol=5))
            return ("plain", len(self.parts) - 1, None)
        if isinstance(obj, (pl.DataFrame, pl.Series)):
            return self._part(obj, _encode_polars)
        if isinstance(obj, np.ndarray) and obj.dtype != object:
            return self._part(obj, _encode_array)
        return None

    def _part(self, obj: Any, encoder: Any) -> tuple:
        known = self.seen.get(id(obj))
        if known is None:
            kind, blob, extra = encoder(obj)
            known = (kind, len(self.parts), extra)
            self.parts.append(blob)
            self.seen[id(obj)] = known
            self.keep.append(obj)
        return known


def _fields(state: Snapshottable) -> dict[str, Any]:
    """The fields of ``state`` to pickle, those of ``plain_fields`` wrapped as ``_Plain``."""
    fields = state.state()
    plain = type(state).plain_fields
    if plain:
        fields = {name: _Plain(value) if name in plain else value
                  for name, value in fields.items()}
    return fields


class _Plain:
    """A field of ``plain_fields`` on its way to be pickled as a part of its own."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, parts: list[memoryview]) -> None:
        super().__init__(file)
        self.parts = parts
        self.loaded: dict[int, Any] = {}

    def persistent_load(self, pid: tuple) -> Any:
        if pid[0] == "state":
            return _Nested(pid[1])
        kind, index, extra = pid
        if index not in self.loaded:
            self.loaded[index] = _DECODERS[kind](self.parts[index], extra)
        return self.loaded[index]


def encode(fields: dict[str, Any]) -> bytes:
    """``fields`` as snapshot bytes."""
    return b"".join(encode_pieces(fields))


def encode_pieces(fields: dict[str, Any]) -> list[bytes]:
    """``encode(fields)`` as the pieces whose concatenation it is (the large ones are the
    buffers the encoders returned, not copied)."""
    parts: list[bytes | list[bytes]] = []
    buffer = io.BytesIO()
    _Pickler(buffer, parts).dump(fields)
    out = [_MAGIC]
    for blob in [buffer.getvalue(), *parts]:
        if type(blob) is list:
            out.append(_LENGTH.pack(sum(map(len, blob))))
            out += blob
        else:
            out.append(_LENGTH.pack(len(blob)))
            out.append(cast("bytes", blob))
    return out


def decode(data: bytes | memoryview) -> dict[str, Any]:
    """The fields saved by ``encode``; nested states come back as ``_Nested``. ``data`` may
    be any buffer (a view of a mapped checkpoint segment): its parts are decoded from views
    of it, without copying them out first."""
    view = memoryview(data).cast("B")
    if view[:len(_MAGIC)] != _MAGIC:
        raise SnapshotError("not a reflow state snapshot (wrong header)")
    at = len(_MAGIC)
    blobs = []
    while at < len(view):
        if at + _LENGTH.size > len(view):
            raise SnapshotError("truncated reflow state snapshot")
        (length,) = _LENGTH.unpack_from(view, at)
        at += _LENGTH.size
        blobs.append(view[at:at + length])
        at += length
    if not blobs or at != len(view):
        raise SnapshotError("truncated reflow state snapshot")
    return _Unpickler(io.BytesIO(blobs[0]), blobs[1:]).load()


def _encode_polars(obj: pl.DataFrame | pl.Series) -> tuple[str, list[bytes], Any]:
    is_series = isinstance(obj, pl.Series)
    frame = obj.to_frame() if isinstance(obj, pl.Series) else obj
    objects = {name: frame[name].to_list()
               for name, dtype in frame.schema.items() if dtype == pl.Object}
    pieces = _Pieces()
    # (``drop`` of no column still runs a query over the whole frame.)
    (frame.drop(list(objects)) if objects else frame).write_ipc_stream(cast("IO[bytes]", pieces))
    return ("series" if is_series else "frame"), pieces.pieces, (frame.columns, objects)


class _Pieces:
    """A file to write to that keeps what it is given, in order: the Arrow IPC stream
    Polars writes (one ``bytes`` per message, the data of a frame in one) is kept as it
    came, where a ``BytesIO`` would copy it into its own buffer, and out again."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(data if type(data) is bytes else bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _decode_polars(blob: memoryview, extra: Any) -> pl.DataFrame:
    order, objects = extra
    frame = pl.read_ipc_stream(io.BytesIO(blob))
    if objects:
        frame = frame.with_columns(
            pl.Series(name, values, dtype=pl.Object) for name, values in objects.items()
        ).select(order)
    return frame


def _encode_array(array: np.ndarray) -> tuple[str, bytes, Any]:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return "array", buffer.getvalue(), None


def _decode_array(blob: memoryview) -> np.ndarray:
    """The array of a ``.npy`` blob, copied once out of ``blob`` (``np.load`` of a file
    over it would copy twice; the copy is writable, as operators update arrays in place)."""
    header = io.BytesIO(blob[:4096])  # far longer than the header of an array of numbers
    try:
        version = np.lib.format.read_magic(header)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(header)
    except ValueError:  # a longer header (a structured dtype of many fields), or version 3
        return np.load(io.BytesIO(blob), allow_pickle=False)
    order: Literal["C", "F"] = "F" if fortran else "C"
    count = int(np.prod(shape, dtype=np.int64))
    if count == 0:
        return np.empty(shape, dtype=dtype, order=order)
    flat = np.frombuffer(blob, dtype=dtype, count=count, offset=header.tell())
    return flat.reshape(shape, order=order).copy(order=order)


_DECODERS = {
    "frame": _decode_polars,
    "series": lambda blob, extra: _decode_polars(blob, extra).to_series(0),
    "array": lambda blob, extra: _decode_array(blob),
    "plain": lambda blob, extra: pickle.loads(blob),
}
