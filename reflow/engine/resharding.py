"""Moving operator state from N shards to M: a checkpoint taken with N workers restored by M.

State is owned by key: the shard of a key is a function of its 128-bit hash and the number of
shards (``reflow.engine.state.partition``). To restore N shards' states on M workers, each
stateful operator cuts the state of every old shard by the owner its keys have among M
(``Operator.split_state``, ``reflow.engine.state.partition.owners``), and each new shard
loads the union of the pieces it owns (``Operator.merge_state``). Nothing is replayed: the
pieces are the state itself (running sums, arranged rows, group records), moved whole.

``reshard`` does this with one built operator of the right kind (a worker's own, before it
runs): it loads each old shard's snapshot into it in turn to cut it, then loads each new
shard's pieces into it to snapshot them, and leaves it empty again.
"""

from __future__ import annotations

from collections.abc import Sequence

from reflow.engine.operator import Operator
from reflow.engine.state.snapshot import SnapshotError


def reshard(operator: Operator, shards: Sequence[bytes], workers: int) -> list[bytes]:
    """The snapshots (``Operator.snapshot``) of ``operator`` on each of ``workers`` shards,
    from its snapshots ``shards`` on another number of shards. ``operator`` must be freshly
    built (its state empty); it is left empty.

    Raises ``SnapshotError`` naming the operator when its state cannot be cut by key.
    """
    if len(shards) == workers:
        return list(shards)
    empty = operator.snapshot()
    if all(blob == empty for blob in shards):
        return [empty] * workers  # nothing held yet (also for operators that cannot cut)
    pieces: list[list[object]] = [[] for _ in range(workers)]
    try:
        for blob in shards:
            operator.restore(blob)
            parts = operator.split_state(workers)
            if len(parts) != workers:
                raise SnapshotError(f"{operator!r} cut its state into {len(parts)} parts, "
                                    f"not {workers}")
            for worker, part in enumerate(parts):
                pieces[worker].append(part)
            operator.restore(empty)
        out = []
        for worker_pieces in pieces:
            operator.merge_state(worker_pieces)
            out.append(operator.snapshot())
            operator.restore(empty)
        return out
    finally:
        operator.restore(empty)
