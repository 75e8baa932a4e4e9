"""The operator interface every engine node implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from reflow.engine.batch import ID
from reflow.engine.state.partition import Broadcast
from reflow.engine.state.snapshot import SnapshotError, Snapshottable


@dataclass
class CellError:
    """One run-time error: which operator, why, and the id of the row when known."""

    operator: str
    message: str
    row_id: int | None = None
    # The error log scope of the failing operator (``pw.local_error_log``); None: global.
    scope: object = None


@dataclass
class RunContext:
    """What an operator can reach while it processes a timestamp."""

    time: int = 0
    errors: list[CellError] = field(default_factory=list)
    terminate_on_error: bool = False
    # Bad input rows (a value a reader cannot parse) are logged and skipped unless the run
    # asked explicitly to terminate on errors, as in Pathway.
    terminate_on_input_error: bool = False
    # The error log scope of the operator being run (``Operator.error_scope``).
    scope: object = None

    def report_input_error(self, source: str, message: str) -> None:
        """Record a bad input row of ``source``."""
        if self.terminate_on_input_error:
            raise EngineError(f"{source}: {message}")
        self.errors.append(CellError(source, message, None))

    def report_error(
        self,
        operator: str,
        message: str,
        row_id: int | None = None,
        exception: BaseException | type[BaseException] | None = None,
        *,
        fatal: bool = True,
    ) -> None:
        """Record a per-row error; fatal when the run was started with ``terminate_on_error``.

        A fatal error raises ``exception`` (the user's own exception, or an exception of that
        type carrying ``message``), so a run stops with the type Python itself would raise;
        without one it raises ``EngineError``. ``fatal=False`` only logs the error (the failures
        of an ``AsyncTransformer`` go to its ``failed`` table, as in Pathway).
        """
        if self.terminate_on_error and fatal:
            raise _fatal(operator, message, exception)
        self.errors.append(CellError(operator, message, row_id, self.scope))


def _fatal(
    operator: str, message: str, exception: BaseException | type[BaseException] | None
) -> BaseException:
    if isinstance(exception, BaseException):
        return exception
    if exception is not None:
        try:
            return exception(message)
        except TypeError:
            pass
    return EngineError(f"{operator}: {message}")


class EngineError(RuntimeError):
    """A run-time failure that stops the dataflow."""


class Operator(Snapshottable):
    """A node of the dataflow.

    ``process`` receives, for one logical time, the delta each input emitted at that time
    (``None`` where an input emitted nothing) and returns its own delta or ``None``. An
    operator may be called several times for the same time; the engine adds the outputs up,
    so every operator must treat two calls as the sum of their deltas.

    A stateful operator names its state in ``state_fields`` (``Snapshottable``), so that it can
    be snapshotted at a completed time and restored into the same operator of a fresh
    dataflow, and says in ``partition_key`` which key each input row belongs to, so that a
    shard of it holding only some keys computes exactly those keys' output.
    """

    stateful = False
    # What the operator computes, as text (set by the layer that builds dataflows: kind,
    # schema, expressions, source names); part of ``Dataflow.fingerprint``.
    structure = ""
    # True when every delta this operator returns is already consolidated, so a sink that
    # receives exactly one delta at a time need not consolidate it again.
    emits_consolidated = False
    # Which error log receives this operator's run-time errors: None for the global one,
    # otherwise the scope object of a ``pw.local_error_log()`` the operator was built in.
    error_scope: object = None

    #: True when ``partition_key`` sends an input to every worker (``BROADCAST``): such an
    #: operator runs on every worker whenever one does (``ShardedDataflow``), which a state
    #: moved from a one-worker run must know before that input shows up again.
    broadcasts = False

    def __init__(self, inputs: Sequence[Operator], name: str) -> None:
        self.inputs = list(inputs)
        self.name = name
        self.index = -1

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        raise NotImplementedError

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        """Called once when ``time`` is complete everywhere."""

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The 128-bit hash routing each row of input ``input_index`` to the shard holding
        its key, or ``BROADCAST`` when every shard must see the whole input.

        The default, the row id, fits operators without state and those whose state is kept
        per row id.
        """
        return delta[ID]

    def split_state(self, workers: int) -> list[object]:
        """This operator's state cut by key among ``workers`` shards: one piece per shard,
        holding the keys it owns (``reflow.engine.resharding.owners``), each a value
        ``merge_state`` accepts. Operators whose state cannot be cut raise ``SnapshotError``,
        so a checkpoint holding their state is restored only by as many workers as wrote it.
        """
        raise SnapshotError(
            f"{type(self).__name__} {self.name}: its state cannot be moved to another number "
            "of workers yet"
        )

    def merge_state(self, pieces: list[object]) -> None:
        """Load the union of ``pieces`` (``split_state`` of shards holding disjoint keys)
        into this freshly built operator."""
        raise SnapshotError(
            f"{type(self).__name__} {self.name}: its state cannot be moved to another number "
            "of workers yet"
        )

    @property
    def combines(self) -> bool:
        """Whether the rows of this (single-input) operator are pre-aggregated by key on each
        worker before an exchange (``combine``), and the parts applied by
        ``process_combined``: an exchange then carries one row per key and worker instead of
        one per input row."""
        return False

    def combine(self, delta: pl.DataFrame, ctx: RunContext) -> pl.DataFrame | None:
        """The input rows ``delta`` pre-aggregated by key, with the key hash of each row in
        column ``reflow.engine.state.partition.PARTIAL_KEY`` (None: nothing to apply)."""
        raise NotImplementedError

    def process_combined(
        self, time: int, parts: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        """Apply the parts made by ``combine`` from the rows of ``time`` (of every worker, for
        this worker's keys): the same as ``process`` of those rows."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"
