"""Iteration to a fixed point, exact under every change (``pw.iterate``).

The loop body is *unrolled*: instance ``i`` of the body is a sub-dataflow computing
``x[i+1] = body(x[i], constants)``. Every instance keeps its own operator state (its
arrangements) across outer logical times, so at a new outer time only deltas travel down the
chain, in the spirit of differential dataflow's (outer time, iteration) timestamps:

    dx[0]   = the change of the loop's initial tables
    dx[i+1] = body_i(x[i] + dx[i]) - body_i(x[i])     (computed incrementally by instance i)

An instance whose input did not change (and whose constants did not change) is skipped. The
chain converges at the first level ``k`` with ``x[k] == x[k+1]``; that level is the loop's
output. Equality of two levels is decided by a linear 128-bit hash of each level's rows
(``sum(diff * hash(row))``), which a delta updates in time proportional to its size. When the
chain no longer converges it grows: a new instance is seeded with the whole last level. The
output delta at a time is the delta of level ``max(old depth, new depth)``: levels beyond a
converged depth are equal to it, so that delta is exactly ``new fixed point - old fixed
point``. Recomputing from the previous fixed point is never done, which is what makes the
result exact under deletions (no self-supporting values survive).

Memory is the body's state times the number of iterations, as in differential dataflow
without compaction; instances beyond the current depth are kept, so a depth that moves back
and forth costs no re-seeding. A constant of the loop is the same table in every instance, so
a join reading a constant directly does not arrange its own copy: the loop keeps one
arrangement per such join (``SharedArrangements``), inserts a constant's delta into it before
the instances run, and every instance's join reads it (``JoinOperator.share``; not when the
other side of the join is an outer side). A new instance is not fed the constants that only
such joins read (unless the constant is their outer side: its unmatched rows are output).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, ID, concat_batches, consolidate, negate
from reflow.engine.ids import _hashable
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.join import JoinOperator
from reflow.engine.operators.stateless import InputOperator
from reflow.engine.state.key_index import KeyIndex
from reflow.engine.state.partition import BROADCAST, Broadcast
from reflow.engine.state.snapshot import Snapshottable

Deltas = list[pl.DataFrame | None]


class _Collector(Operator):
    """Gathers what one output of a body instance emits during one run."""

    def __init__(self, source: Operator) -> None:
        super().__init__([source], f"collect {source.name}")
        self.pending: list[pl.DataFrame] = []

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        if delta is not None:
            self.pending.append(delta)
        return None

    def take(self) -> pl.DataFrame | None:
        pending, self.pending = self.pending, []
        return consolidate(concat_batches(pending))


@dataclass
class BodyInstance(Snapshottable):
    """One unrolled copy of a loop body: its operators (in topological order), the input
    operators it is fed through (iterated tables first, then constants) and its outputs."""

    operators: list[Operator]
    inputs: list[InputOperator]
    outputs: list[Operator]
    collectors: list[_Collector] = field(default_factory=list)
    state_fields = ("operators",)

    def __post_init__(self) -> None:
        for index, operator in enumerate(self.operators):
            operator.index = index
        for output in self.outputs:
            collector = _Collector(output)
            collector.index = len(self.operators)
            self.operators.append(collector)
            self.collectors.append(collector)

    def shareable(self, constants: int) -> list[tuple[int, int, int]]:
        """The joins reading one of the last ``constants`` inputs directly on one side whose
        partner is not an outer side, as ``(position of the join, side, constant)``."""
        feeds = {id(op): j for j, op in enumerate(self.inputs[len(self.inputs) - constants :])}
        found = []
        for position, operator in enumerate(self.operators):
            if not isinstance(operator, JoinOperator):
                continue
            sides = [(k, feeds[id(src)]) for k, src in enumerate(operator.inputs)
                     if id(src) in feeds]
            if len(sides) == 1 and not (operator.right, operator.left)[sides[0][0]].outer:
                found.append((position, *sides[0]))
        return found

    def run(self, time: int, inputs: Deltas, ctx: RunContext) -> Deltas:
        """Push one round of input deltas through the instance; its output deltas."""
        fed = {op.index: d for op, d in zip(self.inputs, inputs, strict=True)}
        outputs: Deltas = [None] * len(self.operators)
        for operator in self.operators:
            if isinstance(operator, InputOperator):
                delta = fed.get(operator.index)
                outputs[operator.index] = delta if delta is not None and delta.height else None
                continue
            deltas = [outputs[source.index] for source in operator.inputs]
            if all(d is None for d in deltas):
                continue
            out = operator.process(time, deltas, ctx)
            outputs[operator.index] = out if out is not None and out.height else None
        return [collector.take() for collector in self.collectors]

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        for operator in self.operators:
            operator.end_of_time(time, ctx)


BodyBuilder = Callable[[RunContext], BodyInstance]

_MASK = (1 << 64) - 1
_FEW = 16  # batches up to this many rows are fingerprinted on Python ints
# Polars' row hash with two seeds gives the two halves of a row's hash (one native call each).
_ROW_SEEDS = (0x5EED_1001, 0x5EED_1002)


def multiset_hash(batch: pl.DataFrame | None) -> tuple[int, int]:
    """A linear 128-bit fingerprint of a Z-set: ``sum(diff * hash(id, values))``, as two
    64-bit halves. Equal collections have equal fingerprints; the fingerprint of a sum is
    the sum of the fingerprints, so a delta updates it in time proportional to its size.

    >>> a = pl.DataFrame({"_id": [1, 2], "x": [5, 6], "_diff": [1, 1]},
    ...                  schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64})
    >>> multiset_hash(a) == add_hashes(multiset_hash(a[:1]), multiset_hash(a[1:]))
    True
    """
    if batch is None or batch.height == 0:
        return (0, 0)
    rows = batch.drop(DIFF)
    if any(dtype == pl.Object for dtype in rows.schema.values()):
        rows = pl.DataFrame([_hashable(rows[c]) for c in rows.columns])
    halves = []
    if batch.height <= _FEW:  # Python ints: a numpy call costs more than a few rows
        diffs = batch[DIFF].to_list()
        for seed in _ROW_SEEDS:
            row_hashes = rows.hash_rows(seed).to_list()
            halves.append(sum(h * d for h, d in zip(row_hashes, diffs, strict=True)) & _MASK)
    else:
        wrapped = batch[DIFF].to_numpy().astype(np.uint64)  # -1 wraps: modulo 2**64
        for seed in _ROW_SEEDS:
            hashed = rows.hash_rows(seed).to_numpy()
            halves.append(int(np.sum(hashed * wrapped, dtype=np.uint64)))
    return (halves[0], halves[1])


def add_hashes(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return ((a[0] + b[0]) & _MASK, (a[1] + b[1]) & _MASK)


def _apply(hashes: list[tuple[int, int]], deltas: Deltas) -> None:
    """Add the fingerprints of ``deltas`` (one per iterated table) to a level's ``hashes``."""
    for j, delta in enumerate(deltas):
        if delta is not None:
            hashes[j] = add_hashes(hashes[j], multiset_hash(delta))


class _Accumulated(Snapshottable):
    """A collection kept as the list of its deltas, consolidated only when read whole."""

    state_fields = ("parts",)

    def __init__(self) -> None:
        self.parts: list[pl.DataFrame] = []

    def add(self, delta: pl.DataFrame | None) -> None:
        if delta is not None and delta.height:
            self.parts.append(delta)
            if len(self.parts) > 4096:
                self.whole()

    def whole(self) -> pl.DataFrame | None:
        merged = consolidate(concat_batches(self.parts))
        self.parts = [] if merged is None else [merged]
        return merged


class SharedArrangements:
    """One arrangement of a loop constant per join of the body reading it, shared by that
    join in every body instance and updated once per delta of the constant."""

    def __init__(self) -> None:
        # (position of the join in an instance, side) -> (constant, arrangement)
        self.arrangements: dict[tuple[int, int], tuple[int, KeyIndex]] = {}
        # constants some operator of the body reads other than through a shared join
        self.fed: set[int] = set()
        self._sides: dict[tuple[int, int], JoinOperator] = {}

    def link(self, instance: BodyInstance, constants: int) -> list[tuple[int, int]]:
        """Make ``instance``'s joins read the shared arrangements; the arrangements it
        created (empty: the caller fills them)."""
        shared = instance.shareable(constants)
        created = []
        for position, side, constant in shared:
            entry = self.arrangements.get((position, side))
            if entry is None:
                entry = (constant, KeyIndex())
                self.arrangements[(position, side)] = entry
                created.append((position, side))
            join = instance.operators[position]
            assert isinstance(join, JoinOperator)
            join.share(side, entry[1])
            self._sides[(position, side)] = join
        # a new instance's join is fed the whole constant when that is an outer side (to
        # emit its rows without a partner), and not otherwise
        joined = {
            (position, side) for position, side, _ in shared
            if not (self._sides[(position, side)].left,
                    self._sides[(position, side)].right)[side].outer
        }
        feeds = instance.inputs[len(instance.inputs) - constants :]
        for j, feed in enumerate(feeds):
            for op in instance.operators:
                for k, src in enumerate(op.inputs):
                    if src is feed and (op.index, k) not in joined:
                        self.fed.add(j)
        return created

    def insert(self, keys: list[tuple[int, int]] | None, constants: Sequence[
            pl.DataFrame | None], ctx: RunContext) -> None:
        """Insert each constant's delta into its arrangements (those of ``keys``, or all)."""
        for key in self.arrangements if keys is None else keys:
            constant, arrangement = self.arrangements[key]
            delta = constants[constant]
            if delta is not None and delta.height:
                join = self._sides[key]
                side = join.left if key[1] == 0 else join.right
                if join._rowwise and side.key_column is not None and delta.height <= 32:
                    # a few rows: as tuples, as the join itself would (no Polars call)
                    key_values = side.keys_of(delta, ctx)
                    arrangement.insert_rows(side.keyed_rows(delta, key_values), side.keyed_schema)
                else:
                    arrangement.insert(side.keyed(delta, ctx))


class IterateOperator(Operator):
    """Runs a loop body to its fixed point at every logical time (see the module docstring).

    Inputs: the initial values of the iterated tables, then the loop's constants. Its own
    output is only a signal; ``IterateOutputOperator``s hand out the delta of each iterated
    table. ``build_body(ctx)`` makes a fresh body instance.
    """

    stateful = True
    broadcasts = True
    state_fields = ("instances", "levels", "depth", "last", "constants")
    state_version = 2  # 2: level fingerprints from Polars' row hash

    def __init__(
        self,
        initial: Sequence[Operator],
        constants: Sequence[Operator],
        build_body: BodyBuilder,
        name: str,
        iteration_limit: int | None = None,
    ) -> None:
        super().__init__([*initial, *constants], name)
        self.width = len(initial)
        self.build_body = build_body
        self.iteration_limit = iteration_limit
        self.instances: list[BodyInstance] = []
        # per level x[i], the fingerprint of each iterated table
        self.levels: list[list[tuple[int, int]]] = [[(0, 0)] * self.width]
        self.depth = 0  # the level that is the loop's output
        self.last = [_Accumulated() for _ in range(self.width)]  # the whole last level
        self.constants = [_Accumulated() for _ in constants]
        self.pending: list[list[pl.DataFrame]] = [[] for _ in range(self.width)]
        self.shared = SharedArrangements()

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        initial, constant = deltas[: self.width], deltas[self.width :]
        for acc, delta in zip(self.constants, constant, strict=True):
            acc.add(delta)
        constants_changed = any(d is not None for d in constant)
        if constants_changed:
            self.shared.insert(None, constant, ctx)
        chain: list[Deltas] = [list(initial)]
        _apply(self.levels[0], initial)
        for i, instance in enumerate(self.instances):
            if constants_changed or any(d is not None for d in chain[i]):
                out = instance.run(time, [*chain[i], *constant], ctx)
            else:
                out = [None] * self.width
            chain.append(out)
            _apply(self.levels[i + 1], out)
        for acc, delta in zip(self.last, chain[-1], strict=True):
            acc.add(delta)
        converged = self._converged_depth()
        while converged is None and not self._at_limit():
            chain.append(self._grow(time, chain[-1], ctx))
            converged = self._converged_depth()
        new_depth = len(self.instances) if converged is None else converged
        output = chain[max(self.depth, new_depth)]
        self.depth = new_depth
        changed = False
        for j, delta in enumerate(output):
            if delta is not None and delta.height:
                self.pending[j].append(delta)
                changed = True
        return _SIGNAL if changed else None

    def _at_limit(self) -> bool:
        return self.iteration_limit is not None and len(self.instances) >= self.iteration_limit

    def _converged_depth(self) -> int | None:
        for i in range(len(self.instances)):
            if self.levels[i] == self.levels[i + 1]:
                return i
        return None

    def _grow(self, time: int, last_delta: Deltas, ctx: RunContext) -> Deltas:
        """Add an instance fed with the whole last level; the delta of the new level relative
        to its old value, which is the old last level (the old chain had converged)."""
        whole = [acc.whole() for acc in self.last]
        instance = self.build_body(ctx)
        created = self.shared.link(instance, len(self.constants))
        constants = [
            acc.whole() if j in self.shared.fed or created else None
            for j, acc in enumerate(self.constants)
        ]
        self.shared.insert(created, constants, ctx)
        fed = [c if j in self.shared.fed else None for j, c in enumerate(constants)]
        out = instance.run(time, [*whole, *fed], ctx)
        self.instances.append(instance)
        level = [(0, 0)] * self.width
        _apply(level, out)
        self.levels.append(level)
        delta = []
        for j in range(self.width):
            old = whole[j]
            parts = [out[j], None if old is None else negate(old), last_delta[j]]
            delta.append(consolidate(concat_batches(parts)))
        self.last = [_Accumulated() for _ in range(self.width)]
        for acc, value in zip(self.last, out, strict=True):
            acc.add(value)
        return delta

    def load_state(self, fields: dict) -> None:
        # the body instances are rebuilt from the plan, then their operators' state loaded
        self.shared = SharedArrangements()
        self.instances = [
            self.build_body(RunContext()) for _ in range(len(fields.get("instances", ())))
        ]
        for instance in self.instances:  # each instance's state holds the shared ones again
            self.shared.link(instance, len(self.constants))
        super().load_state(fields)

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        # a loop body mixes keys (a vertex's label comes from its neighbours): one shard
        # runs the whole loop
        return BROADCAST

    def take(self, index: int) -> pl.DataFrame | None:
        pending, self.pending[index] = self.pending[index], []
        return consolidate(concat_batches(pending))

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        for instance in self.instances:
            instance.end_of_time(time, ctx)


_SIGNAL = pl.DataFrame({ID: [0], DIFF: [1]}, schema={ID: pl.UInt128, DIFF: pl.Int64})


class IterateOutputOperator(Operator):
    """The delta of one iterated table of an ``IterateOperator``."""

    emits_consolidated = True

    def __init__(self, loop: IterateOperator, index: int, name: str) -> None:
        super().__init__([loop], name)
        self.loop = loop
        self.position = index

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        return self.loop.take(self.position)
