"""``import reflow`` loads only what a simple pipeline needs; every other public name is
imported on first use and still resolves (``pw.temporal``, ``pw.io.kafka``, ``t.windowby``).

Each check runs in a fresh interpreter: this test process has long imported everything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Modules a plain ``import reflow`` must not load: the optional packages and connectors
# (with asyncio, sockets and TLS behind them), numpy (the engine imports it when it first
# needs it) and the heavy libraries only some features use.
NOT_AT_IMPORT = [
    "reflow.temporal",
    "reflow.api.join",
    "reflow.udfs",
    "reflow.io.csv",
    "reflow.io.http",
    "reflow.io.kafka",
    "reflow.io.postgres",
    "reflow.io.debezium",
    "reflow.indexing",
    "reflow.stdlib.ml",
    "reflow.api.sql",
    "numpy",
    "asyncio",
    "ssl",
    "pandas",
    "pyarrow",
    "sqlglot",
]


def _run(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_reflow_leaves_the_optional_modules_unloaded():
    loaded = _run(f"""
        import json, sys
        import reflow
        print(json.dumps([m for m in {NOT_AT_IMPORT!r} if m in sys.modules]))
    """)
    assert loaded == []


def test_every_lazy_name_resolves():
    result = _run("""
        import inspect, json, sys
        import reflow as pw

        names = sorted(pw._LAZY)
        missing = [n for n in names if getattr(pw, n, None) is None]
        connectors = sorted(pw.io._CONNECTORS)
        no_read_or_write = [
            c for c in connectors
            if not hasattr(getattr(pw.io, c), "read") and not hasattr(getattr(pw.io, c), "write")
        ]
        print(json.dumps({
            "missing": missing,
            "dir_reflow": sorted(set(names) - set(dir(pw))),
            "dir_io": sorted(set(connectors) - set(dir(pw.io))),
            "no_read_or_write": no_read_or_write,
            "temporal_is_module": inspect.ismodule(pw.temporal),
            "tumbling": pw.temporal.tumbling.__module__,
            "star": sorted(n for n in pw.__all__ if not hasattr(pw, n)),
            "io_star": sorted(n for n in pw.io.__all__ if not hasattr(pw.io, n)),
        }))
    """)
    assert result == {
        "missing": [],
        "dir_reflow": [],
        "dir_io": [],
        "no_read_or_write": [],
        "temporal_is_module": True,
        "tumbling": "reflow.temporal.windows",
        "star": [],
        "io_star": [],
    }


def test_table_methods_of_temporal_load_it_on_first_use():
    result = _run("""
        import json, sys
        import reflow as pw

        placeholders = sorted(
            name for name, member in vars(pw.Table).items()
            if isinstance(member, pw._MethodOfPackage)
        )
        before = set(vars(pw.Table))
        t = pw.debug.table_from_markdown('''
        t | v
        1 | 2
        3 | 5
        ''')
        loaded_before_use = "reflow.temporal" in sys.modules
        windowby = t.windowby  # the first use imports reflow.temporal
        r = windowby(t.t, window=pw.temporal.tumbling(2)).reduce(
            pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v))
        rows = sorted(pw.debug.table_to_dicts(r)[1]["total"].values())
        print(json.dumps({
            "placeholders": placeholders,
            "loaded_before_use": loaded_before_use,
            "rows": rows,
            "new_members": sorted(set(vars(pw.Table)) - before),
            "left": sorted(
                name for name, member in vars(pw.Table).items()
                if isinstance(member, pw._MethodOfPackage)
            ),
            "modules": sorted({
                getattr(pw.Table, name).__module__.split(".")[1] for name in placeholders
            }),
        }))
    """)
    assert result["placeholders"] == sorted(
        [
            "windowby", "forget", "buffer", "ignore_late",
            "asof_join", "asof_join_left", "asof_join_right", "asof_join_outer",
            "interval_join", "interval_join_inner", "interval_join_left",
            "interval_join_right", "interval_join_outer",
            "window_join", "window_join_inner", "window_join_left", "window_join_right",
            "window_join_outer",
            "asof_now_join", "asof_now_join_inner", "asof_now_join_left",
        ]
    )
    assert result["loaded_before_use"] is False
    assert result["rows"] == [2, 5]
    # reflow.temporal adds no Table method that has no placeholder, and replaces them all
    assert result["new_members"] == []
    assert result["left"] == []
    assert result["modules"] == ["temporal"]


def test_import_restores_the_garbage_collector_state():
    result = _run("""
        import gc, json
        gc.disable()
        import reflow
        disabled_stays = not gc.isenabled()
        gc.enable()
        import reflow.temporal
        print(json.dumps({"disabled_stays": disabled_stays, "enabled": gc.isenabled()}))
    """)
    assert result == {"disabled_stays": True, "enabled": True}
    assert _run("""
        import gc, json
        import reflow
        print(json.dumps(gc.isenabled()))
    """) is True
