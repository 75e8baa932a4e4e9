"""The dataflow graph and its scheduler.

Operators are added in topological order (an operator's inputs are added before it). For each
logical time the scheduler pushes the input batches through every operator in that order, then
tells every operator that the time is complete; only then do sinks hand the time's delta to
user code. A sink therefore never sees half of a commit.

Between two times the state of every operator can be saved (``snapshot``) and loaded into a
fresh dataflow built from the same plan (``restore``); the run then goes on as if it had never
stopped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import polars as pl

from reflow.engine.batch import concat_batches
from reflow.engine.operator import CellError, Operator, RunContext
from reflow.engine.operators.stateless import InputOperator, OutputOperator
from reflow.engine.state.snapshot import SavedState, SnapshotError, decode, encode, save_state

ErrorBatchBuilder = Callable[[list[CellError]], pl.DataFrame]

#: Where an operator was built in the user's program, as plan nodes name it.
_LOCATION = re.compile(r" at .*?:\d+")


class Dataflow:
    """A graph of operators and the scheduler that runs it one logical time after another.

    >>> import polars as pl
    >>> from reflow.engine.operators.stateless import InputOperator, OutputOperator
    >>> flow = Dataflow()
    >>> source = flow.add(InputOperator("in", {"x": pl.Int64}))
    >>> seen = []
    >>> _ = flow.add(OutputOperator(source, "out", lambda t, d: seen.append((t, d.height))))
    >>> batch = pl.DataFrame({"_id": [1], "x": [5], "_diff": [1]},
    ...                      schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64})
    >>> flow.run_time(0, {source: batch})
    >>> seen
    [(0, 1)]
    """

    def __init__(self, ctx: RunContext | None = None) -> None:
        self.operators: list[Operator] = []
        self.ctx = ctx or RunContext()
        self.last_time: int | None = None
        # Error logs by scope (None: the global log), each an input fed by a batch builder.
        self.error_logs: dict[object, tuple[InputOperator, ErrorBatchBuilder]] = {}
        # False from the start of a time until every operator was told it is complete.
        self.completed = True
        #: Per operator, a number that changes whenever its state may have changed: raised
        #: when it processes a delta and, for operators with their own ``end_of_time``, at
        #: every time. Equal versions mean an unchanged state (incremental checkpoints).
        self.versions: list[int] = []

    def add(self, operator: Operator) -> Operator:
        """Add an operator whose inputs are already in the graph; returns it."""
        for source in operator.inputs:
            if source.index < 0 or self.operators[source.index] is not source:
                raise ValueError(f"{operator!r} reads {source!r}, which is not in this dataflow")
        operator.index = len(self.operators)
        self.operators.append(operator)
        self.versions.append(0)
        return operator

    @property
    def outputs(self) -> list[OutputOperator]:
        return [op for op in self.operators if isinstance(op, OutputOperator)]

    def run_time(self, time: int, inputs: Mapping[Operator, pl.DataFrame | None]) -> None:
        """Process every input batch of logical ``time`` and complete that time."""
        if self.last_time is not None and time < self.last_time:
            raise ValueError(f"logical time went back from {self.last_time} to {time}")
        self.last_time = time
        self.ctx.time = time
        self.completed = False
        self._push(time, dict(inputs))
        # Errors raised while computing this time enter the error log at the same time, so a
        # pipeline reading the log sees them together with the rows that caused them.
        while self.error_logs and self.ctx.errors:
            errors, self.ctx.errors = self.ctx.errors, []
            self._push(time, self.error_batches(errors))
        self.ctx.errors.clear()
        self._end_of_time(time)
        self.completed = True

    def run_batches(
        self, time: int, batches: Iterable[tuple[Operator, pl.DataFrame | None]]
    ) -> None:
        """Run logical ``time`` over ``(input operator, batch)`` pairs; the batches of one
        input are concatenated in order."""
        self.run_time(time, grouped_inputs(batches))

    # --- snapshots -----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A digest of the graph's structure: each operator's kind, name, ``structure``
        (schema, expressions, source names) and inputs, in order.

        Two dataflows lowered from the same plan have the same fingerprint, also after the
        program's code moved: plan node numbers (which depend on what else the program built
        first) and source locations (``at file:line``) are left out of names.
        """
        digest = hashlib.sha256()
        for operator in self.operators:
            name = re.sub(r"#\d+", "", _LOCATION.sub("", operator.name))
            inputs = ",".join(str(source.index) for source in operator.inputs)
            digest.update(
                f"{type(operator).__qualname__}|{name}|{operator.structure}|{inputs}\n".encode()
            )
        return digest.hexdigest()

    def snapshot(self) -> bytes:
        """The state of every operator after the last completed time, as bytes.

        Call it between two ``run_time`` calls. Operators are identified by their position in
        the graph, checked with ``fingerprint()`` on restore. Refused (``SnapshotError``)
        while a time is being run, e.g. from a sink's callback, or after a time failed.
        """
        if not self.completed:
            raise SnapshotError(
                f"logical time {self.last_time} is not complete: a snapshot is taken between "
                "two times"
            )
        states = {op.index: op.snapshot() for op in self.operators if op.state_fields}
        return encode({
            "fingerprint": self.fingerprint(),
            "last_time": self.last_time,
            "operators": [(i, type(self.operators[i]).__qualname__) for i in states],
            "states": states,
        })

    def restore(self, data: bytes) -> None:
        """Load a ``snapshot()`` into this freshly built dataflow of the same plan.

        Raises ``SnapshotError`` when the snapshot was taken from a different graph.
        """
        if self.last_time is not None:
            raise SnapshotError("a snapshot can only be restored into a dataflow that has not run")
        saved = decode(data)
        if saved["fingerprint"] != self.fingerprint():
            described = ", ".join(f"#{i} {kind}" for i, kind in saved["operators"][:8])
            raise SnapshotError(
                "the snapshot was taken from a different dataflow (its stateful operators: "
                f"{described or 'none'}); build the same plan to restore it"
            )
        for index, state in saved["states"].items():
            self.operators[index].restore(state)
        self.last_time = saved["last_time"]
        if self.last_time is not None:
            self.ctx.time = self.last_time

    def stateful_indices(self) -> list[int]:
        """The positions of the operators that hold state, in graph order."""
        return [op.index for op in self.operators if op.state_fields]

    def snapshot_states(self, indices: Iterable[int]) -> dict[int, bytes]:
        """The snapshots of the stateful operators at ``indices`` after the last completed
        time, one by one, so a caller can save only those whose ``versions`` changed.

        >>> Dataflow().snapshot_states([])
        {}
        """
        self._check_completed()
        return {index: self.operators[index].snapshot() for index in indices}

    def _check_completed(self) -> None:
        if not self.completed:
            raise SnapshotError(
                f"logical time {self.last_time} is not complete: a snapshot is taken between "
                "two times"
            )

    def save_states(self, marks: Mapping[int, object | None]) -> dict[int, SavedState]:
        """The states of the stateful operators named by ``marks`` after the last completed
        time, each as the changes since its mark (``Snapshottable.checkpoint_mark``, None:
        whole) when the operator can tell them, else whole, with its new mark."""
        self._check_completed()
        return {index: save_state(self.operators[index], mark) for index, mark in marks.items()}

    def checkpoint_marks(self, indices: Iterable[int]) -> dict[int, object | None]:
        """The ``checkpoint_mark()`` of the operators at ``indices`` (after a restore)."""
        return {index: self.operators[index].checkpoint_mark() for index in indices}

    def restore_states(
        self, states: Mapping[int, bytes], last_time: int | None,
        deltas: Mapping[int, Sequence[bytes]] | None = None,
    ) -> None:
        """Load per-operator snapshots (``snapshot_states``) of every stateful operator
        into this freshly built dataflow of the same plan (checked by the caller with
        ``fingerprint()``), as of logical time ``last_time``; then each operator's
        ``deltas`` (``save_states``), in order."""
        if self.last_time is not None:
            raise SnapshotError("a snapshot can only be restored into a dataflow that has not run")
        missing = set(self.stateful_indices()) - set(states)
        if missing:
            raise SnapshotError(
                "the snapshot has no state for operator(s) "
                + ", ".join(f"#{i} {self.operators[i]!r}" for i in sorted(missing))
            )
        for index, state in states.items():
            self.operators[index].restore(state)
            for delta in (deltas or {}).get(index, ()):
                self.operators[index].restore_delta(delta)
        self.last_time = last_time
        if last_time is not None:
            self.ctx.time = last_time

    def attach_error_log(
        self, error_input: InputOperator, to_batch: ErrorBatchBuilder, scope: object = None
    ) -> None:
        """Route run-time cell errors of operators of ``scope`` (None: every operator whose
        scope has no log of its own) into ``error_input`` as batches built by ``to_batch``."""
        self.error_logs[scope] = (error_input, to_batch)

    @property
    def error_input(self) -> InputOperator | None:
        """The global error log's input, or any log's when there is no global one."""
        if None in self.error_logs:
            return self.error_logs[None][0]
        return next((log for log, _ in self.error_logs.values()), None)

    def error_batches(self, errors: list[CellError]) -> dict[Operator, pl.DataFrame | None]:
        """``errors`` as one batch per error log (None for a log that gets none of them).

        An error goes to the log of its operator's scope (None: the global log); when that
        log is not part of this dataflow, nothing reads it and the error is dropped.
        """
        by_scope: dict[object, list[CellError]] = {}
        for error in errors:
            by_scope.setdefault(error.scope, []).append(error)
        batches: dict[Operator, pl.DataFrame | None] = {}
        for scope, (log, to_batch) in self.error_logs.items():
            scoped = by_scope.get(scope)
            batches[log] = to_batch(scoped) if scoped else None
        return batches

    def _push(self, time: int, inputs: dict[Operator, pl.DataFrame | None]) -> None:
        outputs: list[pl.DataFrame | None] = [None] * len(self.operators)
        for operator in self.operators:
            if isinstance(operator, InputOperator):
                delta = inputs.get(operator)
                outputs[operator.index] = delta if delta is not None and delta.height else None
                continue
            deltas = [outputs[source.index] for source in operator.inputs]
            if all(d is None for d in deltas):
                continue
            self.versions[operator.index] += 1
            self.ctx.scope = operator.error_scope
            out = operator.process(time, deltas, self.ctx)
            outputs[operator.index] = out if out is not None and out.height else None
        self.ctx.scope = None

    def _end_of_time(self, time: int) -> None:
        for operator in self.operators:
            if type(operator).end_of_time is not Operator.end_of_time:
                self.versions[operator.index] += 1
            self.ctx.scope = operator.error_scope
            operator.end_of_time(time, self.ctx)
        self.ctx.scope = None

    def finish(self) -> None:
        """Release what operators hold until the end of input, then tell sinks that no more
        data will come.

        Operators with a ``flush_at_end()`` method (e.g. a temporal buffer) hand over the rows
        they still hold; those rows flow through the graph at one last logical time.
        """
        if self.last_time is not None and any(
            hasattr(op, "flush_at_end") for op in self.operators
        ):
            self._flush(self.last_time + 1)
        for output in self.outputs:
            output.finish()

    def _flush(self, time: int) -> None:
        self.last_time = time
        self.ctx.time = time
        outputs: list[pl.DataFrame | None] = [None] * len(self.operators)
        for operator in self.operators:
            if isinstance(operator, InputOperator):
                continue
            deltas = [outputs[source.index] for source in operator.inputs]
            out = None
            if any(d is not None for d in deltas):
                self.versions[operator.index] += 1
                self.ctx.scope = operator.error_scope
                out = operator.process(time, deltas, self.ctx)
            flush = getattr(operator, "flush_at_end", None)
            if flush is not None:
                self.versions[operator.index] += 1
                out = concat_batches([out, flush()])
            outputs[operator.index] = out if out is not None and out.height else None
        self._end_of_time(time)


def grouped_inputs(
    batches: Iterable[tuple[Operator, pl.DataFrame | None]],
) -> dict[Operator, pl.DataFrame | None]:
    """``(input operator, batch)`` pairs as one batch per input, concatenated in order: the
    inputs of one logical time.

    >>> from reflow.engine.operators.stateless import InputOperator
    >>> source = InputOperator("in", {"x": pl.Int64})
    >>> frames = [pl.DataFrame({"x": [1]}), pl.DataFrame({"x": [2]})]
    >>> grouped_inputs([(source, frames[0]), (source, frames[1])])[source]["x"].to_list()
    [1, 2]
    """
    grouped: dict[Operator, list[pl.DataFrame | None]] = {}
    for operator, batch in batches:
        grouped.setdefault(operator, []).append(batch)
    return {operator: concat_batches(parts) for operator, parts in grouped.items()}
