"""The state of stateful operators: arrangements, group stores and what they share.

* ``key_index.KeyIndex``: a columnar log of rows with a key -> positions index (joins).
* ``row_store.RowStore``: the live rows of one input by row id (keyed operators, sort,
  deduplicate).
* ``group_store.ColumnarGroups``: the rows of every group, columnar (reduce, big batches).
* ``invertible.InvertibleGroups``: running sums per group in numpy arrays (count/sum/avg).
* ``aggregates``: the per-group accumulators of the other reducers.

Two modules define what every piece of state, and every operator holding it, offers:

* ``snapshot``: ``Snapshottable`` -- ``snapshot() -> bytes`` and ``restore(bytes)``, driven by
  the ``state_fields`` a class names (Arrow IPC for frames, ``.npy`` for arrays, pickle for
  the rest).
* ``partition``: a fixed number of key partitions over the engine's 128-bit key hashes, and the
  shard of each; operators route input rows with ``Operator.partition_key``.
"""
