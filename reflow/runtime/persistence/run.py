"""The persistence side of one run: restore from the last checkpoint, then checkpoint
regularly at completed logical times."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import Operator
from reflow.engine.sharding import rescale_states
from reflow.engine.state.snapshot import SnapshotError
from reflow.runtime.persistence.backend import Backend, PersistenceError
from reflow.runtime.persistence.checkpoint import Checkpoint, CheckpointStore
from reflow.runtime.persistence.resume import SinkPosition, set_sink_positions
from reflow.runtime.sources import LiveSource

logger = logging.getLogger("reflow")


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats numbered (``a``, ``a#2``) so each source/sink has one key.

    >>> unique_names(["a", "b", "a"])
    ['a', 'b', 'a#2']
    """
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def source_scope(backend: Backend, name: str) -> str:
    """The ``scope`` of source ``name`` in the storage ``backend``: 16 hexadecimal digits,
    the same in every run over that storage.

    >>> len(source_scope(Backend.filesystem("/tmp/state"), "orders"))
    16
    """
    text = f"{backend.identity()}\n{name}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PersistenceSettings(Protocol):
    """What a run reads of its ``pw.persistence.Config`` (a class of the package above)."""

    backend: Backend
    snapshot_interval_ms: int

    @property
    def keeps_state(self) -> bool: ...


def describe_operators(dataflow: Dataflow) -> list[str]:
    """The stateful operators of ``dataflow``, in order, for messages about a changed plan."""
    return [f"{type(op).__name__} {op.name}" for op in dataflow.operators if op.state_fields]


def operator_structures(dataflow: Dataflow) -> list[tuple[str, str]]:
    """Every operator of ``dataflow``, in order: its description and a digest of what it
    computes (``Operator.structure``), for messages about a changed plan."""
    return [
        (f"{type(op).__name__} {op.name}", hashlib.sha256(op.structure.encode()).hexdigest()[:16])
        for op in dataflow.operators
    ]


class PersistentRun:
    """Checkpoints of one run, configured by a ``pw.persistence.Config``."""

    def __init__(self, config: PersistenceSettings) -> None:
        self.config = config
        self.store = CheckpointStore(config.backend)
        self.interval = max(config.snapshot_interval_ms, 0) / 1000
        self.restored: Checkpoint | None = None
        self.last_saved = time.monotonic()
        self.saved_time: int | None = None  # logical time of the newest stored checkpoint

    def load(self) -> None:
        """Read the last checkpoint (before the dataflow is built: sinks need positions)."""
        self.restored = self.store.load_latest()
        set_sink_positions(self.restored.sinks if self.restored is not None else None)

    def restore(self, dataflow: Dataflow, sources: Sequence[LiveSource]) -> int | None:
        """Load the checkpoint into the freshly built ``dataflow`` and ``sources``; returns
        the checkpoint's logical time (None on a fresh start)."""
        set_sink_positions(None)
        names = unique_names([source.name for source in sources])
        for name, source in zip(names, sources, strict=True):
            source.use_checkpoints(source_scope(self.store.backend, name))
        checkpoint = self.restored
        if checkpoint is None:
            return None
        where = self.store.backend.describe(self.store.next_number - 1)
        (plan_then, workers_then), (plan_now, workers_now) = (
            _plan_and_workers(checkpoint.fingerprint), _plan_and_workers(dataflow.fingerprint()))
        if (plan_then == plan_now and workers_then != workers_now
                and checkpoint.states is not None):
            _check_formats(checkpoint, dataflow, where)  # before the states are decoded
            whole = _folded(checkpoint.states, checkpoint.state_deltas, dataflow.operators)
            checkpoint = dataclasses.replace(checkpoint, state_deltas={}, states=self._rescaled(
                whole, workers_then, workers_now, dataflow, where))
        elif checkpoint.fingerprint != dataflow.fingerprint():
            _check_workers(checkpoint.fingerprint, dataflow.fingerprint(), where)
            before = checkpoint.structures or [(op, "") for op in checkpoint.operators]
            now = operator_structures(dataflow) if checkpoint.structures else [
                (op, "") for op in describe_operators(dataflow)]
            raise PersistenceError(_changed_message(
                before, now, self.store.backend.describe(self.store.next_number - 1),
            ))
        if checkpoint.states is not None:
            _check_formats(checkpoint, dataflow, self.store.backend.describe(
                self.store.next_number - 1))
            dataflow.restore_states(
                checkpoint.states, checkpoint.last_time, checkpoint.state_deltas
            )
            self.store.restored(dataflow.checkpoint_marks(checkpoint.states))
        else:
            dataflow.restore(checkpoint.dataflow)
        for name, source in zip(names, sources, strict=True):
            if name in checkpoint.sources:
                source.resume(checkpoint.sources[name])
        logger.info("restored checkpoint at logical time %s", checkpoint.last_time)
        self.restored = dataclasses.replace(checkpoint, states=None, dataflow=b"")
        self.saved_time = checkpoint.last_time
        return checkpoint.last_time

    def _rescaled(self, states: dict[int, bytes], before: int, after: int,
                  dataflow: Dataflow, where: str) -> dict[int, bytes]:
        """The states of a checkpoint written by ``before`` workers, re-partitioned by key for
        ``after`` (``reflow.engine.sharding.rescale_states``)."""
        # (States read in place from mapped segments are copied: they are pickled again.)
        states = {index: bytes(state) for index, state in states.items()}
        try:
            moved = rescale_states(states, before, after, dataflow.operators)
        except SnapshotError as exc:
            raise PersistenceError(
                f"the checkpoint {where} was written by a run on {before} worker(s) and this "
                f"run has {after}, but {exc}: run it on {before} (PATHWAY_THREADS / "
                "PATHWAY_PROCESSES / REFLOW_RAY_ACTORS), or delete the persistence directory "
                "to start over"
            ) from None
        logger.info("checkpoint of %d worker(s) re-partitioned for %d", before, after)
        # What the store holds is laid out for the old workers: the next checkpoint writes
        # every state again.
        self.store.states = {}
        return moved

    def save_initial(self, dataflow: Dataflow, sources: Sequence[LiveSource]) -> None:
        """On a start without a checkpoint of a time: store one taken before the first time
        when a sink's position matters from the start (``SinkPosition.from_start``: a Kafka
        sink's offsets), so that a run killed before its first checkpoint restarts knowing
        where that sink's output began."""
        if any(isinstance(op.position, SinkPosition) and op.position.from_start
               for op in dataflow.outputs):
            self.save(dataflow, sources, {}, final=True)

    def due(self) -> bool:
        return time.monotonic() - self.last_saved >= self.interval

    def save(
        self, dataflow: Dataflow, sources: Sequence[LiveSource], offsets: dict[int, object],
        final: bool = False,
    ) -> None:
        """Checkpoint now: call it between two logical times, after the sinks flushed.

        The checkpoint is written by a background thread while the run goes on, except the
        ``final`` one (at the end of the run), which is stored when this returns.
        """
        last_time = dataflow.last_time
        if self.saved_time is not None and last_time == self.saved_time:
            # Nothing ran since the stored checkpoint (offsets may have moved over empty
            # commits only, which the stored ones replay harmlessly).
            if final:
                self.store.wait()
            return
        names = unique_names([source.name for source in sources])
        sinks = [(op.name, op.position) for op in dataflow.outputs if op.position is not None]
        sink_names = unique_names([name for name, _ in sinks])
        # A source that has not committed since the restart keeps its restored offset.
        offsets_by_name = dict(self.restored.sources) if self.restored is not None else {}
        offsets_by_name.update({names[i]: offset for i, offset in offsets.items()})
        stateful = dataflow.stateful_indices()
        versions = dataflow.versions
        checkpoint = Checkpoint(
            fingerprint=dataflow.fingerprint(),
            operators=describe_operators(dataflow),
            structures=operator_structures(dataflow),
            sources=offsets_by_name,
            sinks={name: position() for name, (_, position) in zip(sink_names, sinks, strict=True)},
            last_time=last_time,
            state_formats=state_formats(dataflow),
        )
        stored_offsets = [
            (source, offsets_by_name[name])
            for name, source in zip(names, sources, strict=True) if name in offsets_by_name
        ]

        def stored() -> None:
            for source, offset in stored_offsets:
                source.checkpointed(offset)

        try:
            self.store.save(
                checkpoint,
                versions={index: versions[index] for index in stateful},
                snapshot=dataflow.save_states,
                background=not final,
                stored=stored,
            )
            if final:
                self.store.wait()
        except SnapshotError as exc:
            # An operator is busy (asynchronous calls in flight): nothing was written; the
            # next completed time tries again.
            logger.debug("checkpoint postponed: %s", exc)
            return
        self.last_saved = time.monotonic()
        self.saved_time = last_time


def state_formats(dataflow: Dataflow) -> dict[int, tuple[str, int]]:
    """Per stateful operator: its class and the version of its state layout."""
    return {
        op.index: (type(op).__qualname__, op.state_version)
        for op in dataflow.operators
        if op.state_fields
    }


def _check_formats(checkpoint: Checkpoint, dataflow: Dataflow, where: str) -> None:
    """Refuse a checkpoint whose operator states were written in another layout."""
    now = state_formats(dataflow)
    for index, (kind, version) in checkpoint.state_formats.items():
        current = now.get(index)
        if current is not None and current[0] == kind and current[1] != version:
            raise PersistenceError(
                f"the checkpoint {where} holds the state of operator #{index} ({kind}) in "
                f"layout version {version}, but this version of reflow reads version "
                f"{current[1]}: finish the run with the reflow version that wrote it, or "
                "delete the persistence directory to start over"
            )


def _folded(states: dict[int, bytes], deltas: Mapping[int, Sequence[bytes]],
            operators: Sequence[Operator]) -> dict[int, bytes]:
    """``states`` with each operator's ``deltas`` applied, as whole snapshots (what
    re-partitioning reads): the deltas are loaded into the operator, freshly built and not run
    (a restore replaces all it holds afterwards), which is snapshotted again."""
    whole = dict(states)
    for index, chain in deltas.items():
        if chain:
            operator = operators[index]
            operator.restore(states[index])
            for delta in chain:
                operator.restore_delta(delta)
            whole[index] = operator.snapshot()
    return whole


def _plan_and_workers(fingerprint: str) -> tuple[str, int]:
    """A fingerprint's plan part and its number of workers (a sharded run's ends with
    ``/workers=N``; a one-worker run's names none).

    >>> _plan_and_workers("ab12/workers=3"), _plan_and_workers("ab12")
    (('ab12', 3), ('ab12', 1))
    """
    plan, _, workers = fingerprint.partition("/workers=")
    return plan, int(workers) if workers.isdigit() else 1


def _check_workers(then: str, now: str, where: str) -> None:
    """Refuse, naming both numbers, a checkpoint written by another number of workers (a
    sharded run's fingerprint ends with ``/workers=N``)."""
    (plan_then, *workers_then), (plan_now, *workers_now) = then.split("/"), now.split("/")
    count_then = workers_then[0].removeprefix("workers=") if workers_then else "1"
    count_now = workers_now[0].removeprefix("workers=") if workers_now else "1"
    if plan_then == plan_now and count_then != count_now:
        raise PersistenceError(
            f"the checkpoint {where} was written by a run on {count_then} worker(s) and this "
            f"run has {count_now}: run it on {count_then} (PATHWAY_THREADS / "
            "PATHWAY_PROCESSES), or delete the persistence directory to start over"
        )


def _unplaced(description: str) -> str:
    """An operator's description without its place in the program (``at file:line``) and
    plan node number, which an edit elsewhere in the program changes."""
    return re.sub(r"#\d+", "", re.sub(r" at .*?:\d+", "", description))


def _by_kind(operators: list[tuple[str, str]]) -> dict[tuple[str, int], tuple[str, str]]:
    """Operators keyed by their description without place, and its occurrence number."""
    seen: dict[str, int] = {}
    out = {}
    for name, digest in operators:
        kind = _unplaced(name)
        seen[kind] = seen.get(kind, 0) + 1
        out[(kind, seen[kind])] = (name, digest)
    return out


def _changed_message(
    before: list[tuple[str, str]], now: list[tuple[str, str]], where: str
) -> str:
    """What differs between the stateful operators of the checkpoint and of this run, each
    given as (description, structure digest)."""
    old, new = _by_kind(before), _by_kind(now)
    removed = [name for key, (name, _) in old.items() if key not in new]
    added = [name for key, (name, _) in new.items() if key not in old]
    changed = [name for key, (name, digest) in new.items()
               if key in old and old[key][1] and digest != old[key][1]]
    details = []
    if removed:
        details.append("no longer has: " + ", ".join(removed[:5]))
    if added:
        details.append("now also has: " + ", ".join(added[:5]))
    if changed:
        details.append("computes differently (columns, types or expressions): "
                       + ", ".join(changed[:5]))
    if not details:
        details.append("its operators are the same but connected or ordered differently")
    return (
        f"the pipeline changed since the checkpoint {where} was written ("
        + "; ".join(details)
        + "). Restore the previous pipeline, or delete the persistence directory to start over."
    )
