"""The oracle's description of a test case: input update streams, expressions and pipelines.

Everything here is plain data with a ``repr`` that is valid Python (given the names exported by
``tests.oracle.model``), so a failing case found by hypothesis can be pasted into
``test_regressions.py`` as it is printed.

A pipeline node knows its output schema (column name -> kind), how to build itself with the
reflow ``Table`` API (``build``) and, for the core operators, how to compute itself in plain
Python (``reference.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import reflow as pw

nan = float("nan")
inf = float("inf")

# --- column kinds ------------------------------------------------------------------------------

INT, FLOAT, STR, OINT, BOOL, TUPLE, DT = "int", "float", "str", "oint", "bool", "tuple", "dt"

INPUT_SCHEMA: dict[str, str] = {
    "k": INT,  # small key domain: groupby and join key, lots of duplicates
    "v": INT,
    "f": FLOAT,  # with NaN and infinities
    "s": STR,  # unicode
    "o": OINT,  # Optional[int] with None
    "tp": TUPLE,  # tuple[int, ...]
    "d": DT,  # naive datetimes
}


def dtype_of(kind: str) -> Any:
    """The reflow dtype of a column kind."""
    return {
        INT: pw.dt.INT,
        FLOAT: pw.dt.FLOAT,
        STR: pw.dt.STR,
        OINT: pw.dt.Optional(pw.dt.INT),
        BOOL: pw.dt.BOOL,
        TUPLE: pw.dt.List(pw.dt.INT),
        DT: pw.dt.DATE_TIME_NAIVE,
    }[kind]


# --- update streams ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upsert:
    """Insert row ``values`` under ``label``, replacing the row present under it (an update)."""

    label: int
    values: tuple  # in INPUT_SCHEMA order


@dataclass(frozen=True)
class Delete:
    """Delete the row present under ``label``."""

    label: int


@dataclass(frozen=True)
class Stream:
    """The changes of one input table: ``times[i]`` is the list of changes at logical time
    ``2 * (i + 1)``, applied in order (several may touch the same label)."""

    times: tuple[tuple[Upsert | Delete, ...], ...]


def logical_time(index: int) -> int:
    return 2 * (index + 1)


def snapshots(stream: Stream) -> list[dict[int, tuple]]:
    """The live rows (label -> values) after each time of ``stream``."""
    live: dict[int, tuple] = {}
    out = []
    for changes in stream.times:
        for change in changes:
            if isinstance(change, Upsert):
                live[change.label] = change.values
            else:
                live.pop(change.label, None)
        out.append(dict(live))
    return out


# --- expressions -------------------------------------------------------------------------------


def _mod7(x: int) -> int:
    return x % 7


def _upper(s: str) -> str:
    return s.upper()


def _length(s: str) -> int:
    return len(s)


def _tsum(t: tuple) -> int:
    return sum(t)


APPLY_FUNCTIONS = {"mod7": _mod7, "upper": _upper, "length": _length, "tsum": _tsum}


class Expr:
    kind: str

    def build(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def ev(self, row: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Expr):
    name: str
    kind: str

    def build(self) -> Any:
        return pw.this[self.name]

    def ev(self, row):
        return row[self.name]


@dataclass(frozen=True)
class Lit(Expr):
    value: Any
    kind: str

    def build(self) -> Any:
        return self.value

    def ev(self, row):
        return self.value


_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_CMP = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
}
_BOOL = {"&": lambda a, b: a and b, "|": lambda a, b: a or b}


@dataclass(frozen=True)
class Bin(Expr):
    op: str
    a: Expr
    b: Expr
    kind: str

    def build(self) -> Any:
        # generators never put a literal on the left, so ``a`` is always a column expression
        return _apply_op(self.op, self.a.build(), self.b.build())

    def ev(self, row):
        a, b = self.a.ev(row), self.b.ev(row)
        if self.op in _ARITH:
            return _ARITH[self.op](a, b)
        if self.op in _CMP:
            return _CMP[self.op](a, b)
        return _BOOL[self.op](a, b)


def _apply_op(op: str, a: Any, b: Any) -> Any:
    return {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "<": lambda: a < b,
        "<=": lambda: a <= b,
        ">=": lambda: a >= b,
        "==": lambda: a == b,
        "!=": lambda: a != b,
        ">": lambda: a > b,
        "&": lambda: a & b,
        "|": lambda: a | b,
    }[op]()


@dataclass(frozen=True)
class Not(Expr):
    a: Expr
    kind: str = BOOL

    def build(self) -> Any:
        return ~self.a.build()

    def ev(self, row):
        return not self.a.ev(row)


@dataclass(frozen=True)
class IsNone(Expr):
    a: Expr
    kind: str = BOOL

    def build(self) -> Any:
        return self.a.build().is_none()

    def ev(self, row):
        return self.a.ev(row) is None


@dataclass(frozen=True)
class IfElse(Expr):
    cond: Expr
    then: Expr
    other: Expr
    kind: str

    def build(self) -> Any:
        return pw.if_else(self.cond.build(), self.then.build(), self.other.build())

    def ev(self, row):
        return self.then.ev(row) if self.cond.ev(row) else self.other.ev(row)


@dataclass(frozen=True)
class Coalesce(Expr):
    a: Expr
    b: Expr
    kind: str

    def build(self) -> Any:
        return pw.coalesce(self.a.build(), self.b.build())

    def ev(self, row):
        a = self.a.ev(row)
        return self.b.ev(row) if a is None else a


@dataclass(frozen=True)
class Apply(Expr):
    fn: str
    a: Expr
    kind: str

    def build(self) -> Any:
        return pw.apply(APPLY_FUNCTIONS[self.fn], self.a.build())

    def ev(self, row):
        return APPLY_FUNCTIONS[self.fn](self.a.ev(row))


# --- pipelines ---------------------------------------------------------------------------------


class Node:
    """A pipeline step. ``schema`` maps output column names to kinds."""

    schema: dict[str, str]
    core = False  # the plain-Python reference knows it

    def children(self) -> tuple[Node, ...]:
        return ()

    def build(self, inputs: dict[str, pw.Table]) -> pw.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def all_core(self) -> bool:
        return self.core and all(c.all_core() for c in self.children())

    def operators(self) -> set[str]:
        out = {type(self).__name__}
        for child in self.children():
            out |= child.operators()
        return out


@dataclass(frozen=True)
class Input(Node):
    name: str
    core = True

    @property
    def schema(self):
        return dict(INPUT_SCHEMA)

    def build(self, inputs):
        return inputs[self.name]


@dataclass(frozen=True)
class Select(Node):
    src: Node
    columns: tuple[tuple[str, Expr], ...]
    keep: bool = False  # with_columns instead of select
    core = True

    @property
    def schema(self):
        out = dict(self.src.schema) if self.keep else {}
        out.update({name: e.kind for name, e in self.columns})
        return out

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        exprs = {name: e.build() for name, e in self.columns}
        return t.with_columns(**exprs) if self.keep else t.select(**exprs)


@dataclass(frozen=True)
class Filter(Node):
    src: Node
    cond: Expr
    core = True

    @property
    def schema(self):
        return self.src.schema

    def children(self):
        return (self.src,)

    def build(self, inputs):
        return self.src.build(inputs).filter(self.cond.build())


@dataclass(frozen=True)
class Flatten(Node):
    src: Node
    column: str

    @property
    def schema(self):
        return {**self.src.schema, self.column: INT}

    def children(self):
        return (self.src,)

    def build(self, inputs):
        return self.src.build(inputs).flatten(pw.this[self.column])


REDUCER_KINDS = {
    # reducer -> (accepted input kinds, output kind function)
    "count": None,
    "sum": (INT, FLOAT),
    "min": (INT, FLOAT, STR, DT),
    "max": (INT, FLOAT, STR, DT),
    "avg": (INT, FLOAT),
    "argmin": (INT, FLOAT, STR),
    "argmax": (INT, FLOAT, STR),
    "sorted_tuple": (INT, FLOAT, STR),
    "tuple": (INT, STR, OINT),
    "ndarray": (INT,),
    "unique": (INT,),
    "any": (INT, STR),
    "count_distinct": (INT, STR),
}
CORE_REDUCERS = ("count", "sum", "min", "max")


def reducer_output_kind(reducer: str, kind: str | None) -> str:
    if reducer in ("count", "count_distinct"):
        return INT
    if reducer == "avg":
        return FLOAT
    if reducer in ("argmin", "argmax"):
        return "ptr"
    if reducer in ("sorted_tuple", "tuple"):
        return "seq"
    if reducer == "ndarray":
        return "array"
    assert kind is not None
    return kind


@dataclass(frozen=True)
class GroupBy(Node):
    src: Node
    keys: tuple[str, ...]
    aggs: tuple[tuple[str, str, str | None], ...]  # (output name, reducer, column)

    @property
    def core(self):
        return all(r in CORE_REDUCERS for _, r, _ in self.aggs) and all(
            r != "sum" or self.src.schema[c] == INT for _, r, c in self.aggs
        ) and all(
            r not in ("min", "max") or self.src.schema[c] in (INT, STR) for _, r, c in self.aggs
        )

    @property
    def schema(self):
        src = self.src.schema
        out = {k: src[k] for k in self.keys}
        for name, reducer, col in self.aggs:
            out[name] = reducer_output_kind(reducer, src.get(col) if col else None)
        return out

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        reducers = pw.reducers
        aggs = {}
        for name, reducer, col in self.aggs:
            fn = getattr(reducers, reducer)
            aggs[name] = fn() if col is None else fn(pw.this[col])
        return t.groupby(*(pw.this[k] for k in self.keys)).reduce(
            *(pw.this[k] for k in self.keys), **aggs
        )


@dataclass(frozen=True)
class WithIdFrom(Node):
    """``src.with_id_from(*columns)``; generated over a groupby by its keys (unique rows)."""

    src: Node
    columns: tuple[str, ...]

    @property
    def schema(self):
        return self.src.schema

    def children(self):
        return (self.src,)

    def build(self, inputs):
        return self.src.build(inputs).with_id_from(*(pw.this[c] for c in self.columns))


@dataclass(frozen=True)
class Join(Node):
    left: Node
    right: Node
    lkey: str
    rkey: str
    how: str  # inner | left | right | outer
    lcols: tuple[str, ...]
    rcols: tuple[str, ...]

    @property
    def core(self):
        return self.how in ("inner", "left")

    @property
    def schema(self):
        lopt = self.how in ("right", "outer")
        ropt = self.how in ("left", "outer")
        out = {}
        for c in self.lcols:
            out["l_" + c] = _optional(self.left.schema[c]) if lopt else self.left.schema[c]
        for c in self.rcols:
            out["r_" + c] = _optional(self.right.schema[c]) if ropt else self.right.schema[c]
        return out

    def children(self):
        return (self.left, self.right)

    def build(self, inputs):
        lt, rt = self.left.build(inputs), self.right.build(inputs)
        if rt is lt:
            rt = rt.copy()  # a table is joined with a copy of itself
        method = {
            "inner": lt.join_inner,
            "left": lt.join_left,
            "right": lt.join_right,
            "outer": lt.join_outer,
        }[self.how]
        joined = method(rt, lt[self.lkey] == rt[self.rkey])
        return joined.select(
            **{"l_" + c: pw.left[c] for c in self.lcols},
            **{"r_" + c: pw.right[c] for c in self.rcols},
        )


def _optional(kind: str) -> str:
    return {INT: OINT}.get(kind, "opt_" + kind if not kind.startswith(("opt_", OINT)) else kind)


@dataclass(frozen=True)
class SplitConcat(Node):
    """``src`` split by ``cond`` into two disjoint tables and concatenated back."""

    src: Node
    cond: Expr

    @property
    def schema(self):
        return self.src.schema

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        a = t.filter(self.cond.build())
        b = t.filter(~self.cond.build())
        return a.promise_universes_are_disjoint(b).concat(b)


@dataclass(frozen=True)
class ConcatReindex(Node):
    a: Node
    b: Node

    @property
    def schema(self):
        return self.a.schema

    def children(self):
        return (self.a, self.b)

    def build(self, inputs):
        return self.a.build(inputs).concat_reindex(self.b.build(inputs))


@dataclass(frozen=True)
class UpdateRows(Node):
    a: Node
    b: Node

    @property
    def schema(self):
        return self.a.schema

    def children(self):
        return (self.a, self.b)

    def build(self, inputs):
        return self.a.build(inputs).update_rows(self.b.build(inputs))


@dataclass(frozen=True)
class UpdateCells(Node):
    """``src.update_cells(src.filter(cond).select(column=expr))``."""

    src: Node
    cond: Expr
    column: str
    expr: Expr

    @property
    def schema(self):
        return self.src.schema

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        patch = t.filter(self.cond.build()).select(**{self.column: self.expr.build()})
        return t.update_cells(patch)


@dataclass(frozen=True)
class SetOp(Node):
    """``a.intersect(b)`` / ``a.difference(b)``, or ``a.restrict(a.filter(cond))``."""

    op: str
    a: Node
    b: Node | None = None
    cond: Expr | None = None

    @property
    def schema(self):
        return self.a.schema

    def children(self):
        return (self.a,) if self.b is None else (self.a, self.b)

    def build(self, inputs):
        a = self.a.build(inputs)
        if self.op == "restrict":
            return a.restrict(a.filter(self.cond.build()))
        return getattr(a, self.op)(self.b.build(inputs))


@dataclass(frozen=True)
class Sort(Node):
    src: Node
    key: str

    @property
    def schema(self):
        return {"prev": "optr", "next": "optr"}

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        # the pointers alone: combining them with ``t``'s columns in one select is refused
        # (the resolver does not see that the sort result has ``t``'s ids)
        return t.sort(key=pw.this[self.key])


@dataclass(frozen=True)
class Lookup(Node):
    """Each row of ``src`` looks up the row of ``by.groupby(key)`` with its own key (``ix``)."""

    src: Node
    groups: Node  # a GroupBy with keys == (key,)
    key: str
    column: str

    @property
    def schema(self):
        return {**self.src.schema, "looked": _optional(self.groups.schema[self.column])}

    def children(self):
        return (self.src, self.groups)

    def build(self, inputs):
        t = self.src.build(inputs)
        g = self.groups.build(inputs)
        return t.with_columns(
            looked=g.ix(g.pointer_from(pw.this[self.key]), optional=True)[self.column]
        )


@dataclass(frozen=True)
class Deduplicate(Node):
    """``deduplicate(value=..., instance=..., acceptor=new > old)``.

    Its result depends on the order rows arrived in and ignores deletions, so the static run
    it is compared with reads every row ever inserted, in arrival order (see ``harness``)."""

    src: Node
    value: str
    instance: str | None = None

    @property
    def schema(self):
        return self.src.schema

    def children(self):
        return (self.src,)

    def build(self, inputs):
        instance = None if self.instance is None else pw.this[self.instance]
        return self.src.build(inputs).deduplicate(
            value=pw.this[self.value], instance=instance, acceptor=_greater
        )


@dataclass(frozen=True)
class StreamRoundTrip(Node):
    """``to_stream()`` and back to a table, by ``stream_to_table(is_upsert)`` or, with
    ``split``, by ``from_streams`` of the upsert and the deletion events: ``src`` again, ids
    included, at every time."""

    src: Node
    split: bool = False

    @property
    def schema(self):
        return self.src.schema

    def children(self):
        return (self.src,)

    def build(self, inputs):
        events = self.src.build(inputs).to_stream()
        if not self.split:
            return events.stream_to_table(pw.this.is_upsert).without(pw.this.is_upsert)
        upserts = events.filter(pw.this.is_upsert).without(pw.this.is_upsert)
        deletions = events.filter(~pw.this.is_upsert).without(pw.this.is_upsert)
        return upserts.from_streams(deletions)


def _greater(new: Any, old: Any) -> bool:
    return new > old


ITERATE_KINDS = ("components", "shortest_paths", "ranking", "fixed_point_filter", "louvain")


@dataclass(frozen=True)
class Iterate(Node):
    """A fixed-point loop (``pw.iterate``) over the graph whose edges are the rows of ``src``:
    vertex ``k % 5`` -> vertex ``v % 5`` (Python modulo), of length ``1 + v % 3``.

    ``components``, ``shortest_paths`` (from vertex 0) and ``ranking`` (PageRank, 3 steps)
    are ``pw.stdlib.graphs``; ``fixed_point_filter`` keeps, until nothing changes, the rows
    that are anchors (``v % 4 == 0``) or whose ``k`` is the target of a kept row;
    ``louvain`` is the clustering of two Louvain levels of the undirected graph (edge weight
    ``1 + v % 3``)."""

    src: Node
    kind: str

    @property
    def schema(self):
        return {
            "components": {"component": "ptr"},
            "shortest_paths": {"dist_from_source": FLOAT},
            "ranking": {"rank": INT},
            "fixed_point_filter": {"k": INT, "v": INT},
            "louvain": {"c": "ptr"},
        }[self.kind]

    def children(self):
        return (self.src,)

    def build(self, inputs):
        t = self.src.build(inputs)
        rows = t.select(k=t.k % 5, v=t.v % 5, w=1.0 + t.v % 3)
        if self.kind == "fixed_point_filter":
            return pw.iterate(_keep_supported, rows=pw.iterate_universe(rows.select(
                rows.k, v=t.v)))
        graphs = pw.stdlib.graphs
        edges = rows.select(u=rows.pointer_from(rows.k), v=rows.pointer_from(rows.v),
                            dist=rows.w)
        if self.kind == "components":
            return graphs.connected_components(edges.select(edges.u, edges.v))
        if self.kind == "louvain":
            return _louvain(rows)
        if self.kind == "ranking":
            return graphs.pagerank.pagerank(edges.select(edges.u, edges.v), steps=3)
        ends = rows.select(n=rows.k).concat_reindex(rows.select(n=rows.v))
        vertices = ends.groupby(id=ends.pointer_from(ends.n)).reduce(
            is_source=pw.reducers.min(ends.n) == 0)
        return graphs.bellman_ford.bellman_ford(vertices, edges)


def _louvain(rows):
    both = rows.concat_reindex(rows.select(k=rows.v, v=rows.k, w=rows.w))
    ends = both.groupby(id=both.pointer_from(both.k)).reduce()
    graph = pw.stdlib.graphs.WeightedGraph.from_vertices_and_weighted_edges(
        ends, both.select(u=both.pointer_from(both.k), v=both.pointer_from(both.v),
                          weight=both.w))
    levels = pw.stdlib.graphs.louvain_communities.louvain_communities_fixed_iterations(
        graph, 0.1, 2).clustering_levels
    top = levels.filter(levels.level == 2)
    return top.with_id(top.v).select(pw.this.c)


def _keep_supported(rows):
    targets = rows.groupby(id=rows.pointer_from(rows.v % 5)).reduce(n=pw.reducers.count())
    supported = targets.ix(rows.pointer_from(rows.k), allow_misses=True).n
    marked = rows.select(rows.k, rows.v, ok=(rows.v % 4 == 0) | supported.is_not_none())
    return marked.filter(marked.ok).select(marked.k, marked.v)


@dataclass(frozen=True)
class Case:
    """Input streams by table name and the pipeline to check."""

    streams: dict[str, Stream]
    pipeline: Node

    def n_times(self) -> int:
        return max((len(s.times) for s in self.streams.values()), default=0)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # hypothesis prints falsifying examples with this: keep it valid Python
        printer.text(repr(self))


def expressions(node: Node) -> list[Expr]:
    """Every expression used by ``node`` and its inputs, sub-expressions included."""
    out: list[Expr] = []

    def visit(value: Any) -> None:
        if isinstance(value, Expr):
            out.append(value)
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))
        elif isinstance(value, Node):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))
        elif isinstance(value, tuple):
            for item in value:
                visit(item)

    visit(node)
    return out


def compares_floats(node: Node) -> bool:
    return any(
        isinstance(e, Bin) and e.op in _CMP and FLOAT in (e.a.kind, e.b.kind)
        for e in expressions(node)
    )


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class Knn(Node):
    """The ``k`` nearest rows of ``data`` for each row of ``queries``, vectors ``(k, v)``,
    through ``pw.indexing.DataIndex.query`` (revised answers). ``index`` is ``l2sq``, ``cos``
    or ``ip`` (brute force) or ``lsh``."""

    data: Node
    queries: Node
    k: int
    index: str
    collapse: bool

    @property
    def schema(self):
        return {"l_v": INT, "r_v": TUPLE if self.collapse else OINT, "score": TUPLE}

    def children(self):
        return (self.data, self.queries)

    def build(self, inputs):
        data, queries = self.data.build(inputs), self.queries.build(inputs)
        if queries is data:
            queries = queries.copy()
        data = data.with_columns(vec=pw.make_tuple(pw.this.k, pw.this.v))
        queries = queries.with_columns(vec=pw.make_tuple(pw.this.k, pw.this.v))
        if self.index == "lsh":
            inner = pw.indexing.LshKnn(data.vec, None, dimensions=2, n_or=2, n_and=2,
                                       bucket_length=4.0)
        else:
            inner = pw.indexing.BruteForceKnn(data.vec, None, dimensions=2,
                                              metric=pw.indexing.BruteForceKnnMetricKind[
                                                  self.index.upper()])
        answers = pw.indexing.DataIndex(data, inner).query(
            queries.vec, number_of_matches=self.k, collapse_rows=self.collapse)
        return answers.select(l_v=pw.left.v, r_v=pw.right.v,
                              score=pw.right._pw_index_reply_score)


PTR = "ptr"  # row pointers; only the ML nodes, which nothing is built on, produce them


def _vector_of(table: pw.Table) -> Any:
    return pw.make_tuple(table.k, table.v)


@dataclass(frozen=True)
class KnnClassify(Node):
    """The label (column ``s``) most common among the ``k`` nearest ``train`` rows of each
    ``queries`` row, vectors ``(k, v)``: ``pw.ml.classifiers.knn_lsh_classifier_train`` and
    ``knn_lsh_classify`` (LSH buckets small enough that most rows share one)."""

    train: Node
    queries: Node
    k: int

    @property
    def schema(self):
        return {"predicted_label": STR}

    def children(self):
        return (self.train, self.queries)

    def build(self, inputs):
        train, queries = self.train.build(inputs), self.queries.build(inputs)
        model = pw.ml.classifiers.knn_lsh_classifier_train(
            train.select(data=_vector_of(train)), L=2, type="euclidean", d=2, M=2, A=4.0)
        return pw.ml.classifiers.knn_lsh_classify(
            model, train.select(label=train.s), queries.select(data=_vector_of(queries)),
            k=self.k)


def _text(s: str, k: int, v: int) -> str:
    return f"{s} k{k} v{v % 3}"


def _words(table: pw.Table) -> pw.Table:
    return table.select(text=pw.apply_with_type(_text, str, table.s, table.k, table.v))


@dataclass(frozen=True)
class FuzzyMatch(Node):
    """Matches between the rows of ``left`` and ``right`` by the words of their ``s`` column
    and of ``k`` and ``v % 3`` written as words, so that rows share some
    (``pw.ml.smart_table_ops.fuzzy_match_tables``, one point per shared word, so
    weights are exact in any order of summation). With ``corrections``, a reviewer's table
    pairs the rows of equal ``k``: weight ``v`` (a confirmation) when the left row's ``v`` is
    even and non-negative, else -1 (a rejection)."""

    left: Node
    right: Node
    corrections: bool

    @property
    def schema(self):
        return {"left": PTR, "right": PTR, "weight": FLOAT}

    def children(self):
        return (self.left, self.right)

    def build(self, inputs):
        left, right = self.left.build(inputs), self.right.build(inputs)
        if right is left:
            right = right.copy()
        by_hand = None
        if self.corrections:
            confirm = (pw.left.v % 2 == 0) & (pw.left.v >= 0)
            by_hand = left.join(right, left.k == right.k).select(
                left=pw.left.id, right=pw.right.id,
                weight=pw.if_else(confirm, pw.cast(float, pw.left.v), -1.0))
        ops = pw.ml.smart_table_ops
        return ops.fuzzy_match_tables(_words(left), _words(right),
                                      by_hand_match=by_hand,
                                      normalization=ops.FuzzyJoinNormalization.NONE)


def _split_words(text: str) -> tuple[str, ...]:
    return tuple(sorted(set(text.split())))


@dataclass(frozen=True)
class FuzzySelfMatch(Node):
    """Matches between distinct rows of ``source`` through the words of ``_text``, as
    explicit ``Edge`` / ``Feature`` tables (``pw.ml.smart_table_ops.fuzzy_self_match``,
    ``NONE`` normalization so weights are whole numbers, exact in any order of summation).
    With ``corrections``, rows of equal ``k`` are paired by a reviewer as in
    ``FuzzyMatch``."""

    source: Node
    corrections: bool

    @property
    def schema(self):
        return {"left": PTR, "right": PTR, "weight": FLOAT}

    def children(self):
        return (self.source,)

    def build(self, inputs):
        source = self.source.build(inputs)
        words = _words(source).select(
            node=pw.this.id, word=pw.apply_with_type(_split_words, tuple[str, ...],
                                                     pw.this.text)).flatten(pw.this.word)
        ops = pw.ml.smart_table_ops
        features = words.groupby(pw.this.word).reduce(
            weight=1.0, normalization_type=int(ops.FuzzyJoinNormalization.NONE))
        edges = words.select(pw.this.node, feature=features.pointer_from(pw.this.word),
                             weight=1.0)
        by_hand = None
        if self.corrections:
            other = source.copy()
            confirm = (pw.left.v % 2 == 0) & (pw.left.v >= 0)
            by_hand = source.join(other, source.k == other.k).filter(
                pw.left.id != pw.right.id).select(
                left=pw.left.id, right=pw.right.id,
                weight=pw.if_else(confirm, pw.cast(float, pw.left.v), -1.0))
        return ops.fuzzy_self_match(edges, features, by_hand_match=by_hand)
