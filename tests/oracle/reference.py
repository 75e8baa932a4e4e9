"""A small reference evaluator in plain Python for the core operators.

It shares nothing with reflow's implementation: rows are dicts, a table is a list of rows, and
each operator is written the way its semantics is stated (select computes expressions row by
row, filter keeps rows whose condition is true, groupby partitions rows by key, joins pair rows
with equal keys). Row ids are not modelled: results are compared as multisets of rows.
"""

from __future__ import annotations

from typing import Any

from . import model as m

Rows = list[dict[str, Any]]


def evaluate(node: m.Node, snapshot: dict[str, dict[int, tuple]]) -> Rows:
    """The rows of ``node`` given each input's live rows (id -> values in schema order)."""
    if isinstance(node, m.Input):
        names = list(m.INPUT_SCHEMA)
        return [dict(zip(names, values, strict=True)) for values in snapshot[node.name].values()]
    if isinstance(node, m.Select):
        out = []
        for row in evaluate(node.src, snapshot):
            new = dict(row) if node.keep else {}
            new.update({name: e.ev(row) for name, e in node.columns})
            out.append(new)
        return out
    if isinstance(node, m.Filter):
        return [row for row in evaluate(node.src, snapshot) if node.cond.ev(row) is True]
    if isinstance(node, m.GroupBy):
        return _groupby(node, evaluate(node.src, snapshot))
    if isinstance(node, m.Join):
        return _join(node, evaluate(node.left, snapshot), evaluate(node.right, snapshot))
    raise NotImplementedError(f"no reference for {type(node).__name__}")


def _groupby(node: m.GroupBy, rows: Rows) -> Rows:
    groups: dict[tuple, Rows] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in node.keys), []).append(row)
    out = []
    for key, members in groups.items():
        result = dict(zip(node.keys, key, strict=True))
        for name, reducer, column in node.aggs:
            values = [r[column] for r in members] if column is not None else None
            if reducer == "count":
                result[name] = len(members)
            elif reducer == "sum":
                total = 0
                for v in values:
                    total += v
                result[name] = total
            elif reducer == "min":
                result[name] = min(values)
            elif reducer == "max":
                result[name] = max(values)
            else:
                raise NotImplementedError(reducer)
        out.append(result)
    return out


def _join(node: m.Join, left: Rows, right: Rows) -> Rows:
    def combine(lrow: dict | None, rrow: dict | None) -> dict:
        out = {"l_" + c: (lrow[c] if lrow is not None else None) for c in node.lcols}
        out.update({"r_" + c: (rrow[c] if rrow is not None else None) for c in node.rcols})
        return out

    out = []
    matched_right: set[int] = set()
    for lrow in left:
        matches = [i for i, rrow in enumerate(right) if lrow[node.lkey] == rrow[node.rkey]]
        for i in matches:
            out.append(combine(lrow, right[i]))
        matched_right.update(matches)
        if not matches and node.how in ("left", "outer"):
            out.append(combine(lrow, None))
    if node.how in ("right", "outer"):
        out.extend(combine(None, r) for i, r in enumerate(right) if i not in matched_right)
    return out
