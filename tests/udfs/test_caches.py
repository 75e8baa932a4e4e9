"""InMemoryCache, DiskCache (across separate processes) and DefaultCache."""

import subprocess
import sys
import textwrap

import reflow as pw
from tests.utils import T, assert_rows


def words():
    return T(
        """
          | w
        1 | a
        2 | bb
        3 | a
        """
    )


def test_in_memory_cache_calls_once_per_distinct_argument_and_survives_runs():
    calls = []

    @pw.udf(cache_strategy=pw.udfs.InMemoryCache())
    def size(w: str) -> int:
        calls.append(w)
        return len(w)

    assert_rows(words().select(n=size(pw.this.w)), [(1,), (2,), (1,)])
    assert sorted(calls) == ["a", "bb"]
    assert_rows(words().select(n=size(pw.this.w)), [(1,), (2,), (1,)])
    assert sorted(calls) == ["a", "bb"]


def test_cache_with_batches_and_async_calls():
    calls = []

    @pw.udf(cache_strategy=pw.udfs.InMemoryCache(), max_batch_size=10)
    def sizes(ws: list[str]) -> list[int]:
        calls.append(sorted(ws))
        return [len(w) for w in ws]

    @pw.udf(cache_strategy=pw.udfs.InMemoryCache())
    async def upper(w: str) -> str:
        calls.append(w)
        return w.upper()

    r = words().select(n=sizes(pw.this.w), u=upper(pw.this.w))
    assert_rows(r, [(1, "A"), (2, "BB"), (1, "A")])
    first = list(calls)
    assert_rows(r, [(1, "A"), (2, "BB"), (1, "A")])
    assert calls == first  # second run: every value came from the caches


def test_failures_are_not_cached():
    calls = []

    @pw.udf(cache_strategy=pw.udfs.InMemoryCache())
    def fragile(w: str) -> str:
        calls.append(w)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return w

    t = T(
        """
          | w
        1 | a
        """
    )
    assert_rows(t.select(r=fragile(pw.this.w)), [(pw.ERROR,)], terminate_on_error=False)
    assert_rows(t.select(r=fragile(pw.this.w)), [("a",)], terminate_on_error=False)
    assert calls == ["a", "a"]


PROGRAM = textwrap.dedent(
    """
    import sys
    import reflow as pw

    calls_file = sys.argv[1]

    @pw.udf(cache_strategy=pw.udfs.{cache})
    def expensive(x: int) -> int:
        with open(calls_file, "a") as f:
            f.write(f"{{x}}\\n")
        return x * x

    t = pw.debug.table_from_markdown('''
    x
    2
    3
    ''')
    pw.debug.compute_and_print(t.select(y=expensive(pw.this.x)), include_id=False)
    """
)


def run_program(tmp_path, cache: str, env_dir=None) -> str:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM.format(cache=cache))
    env = {"PATH": "/usr/bin:/bin"}
    if env_dir is not None:
        env["REFLOW_UDF_CACHE_DIR"] = str(env_dir)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "calls.txt")],
        capture_output=True, text=True, env=env, check=True, cwd=str(tmp_path),
    )
    return done.stdout


def test_disk_cache_survives_a_restart(tmp_path):
    cache = f"DiskCache(directory={str(tmp_path / 'cache')!r})"
    first = run_program(tmp_path, cache)
    second = run_program(tmp_path, cache)
    assert first == second == "y\n4\n9\n"
    # The second process found both results on disk and never called the function.
    assert sorted((tmp_path / "calls.txt").read_text().split()) == ["2", "3"]
    assert any(p.suffix == ".sqlite" for p in (tmp_path / "cache").iterdir())


def test_default_cache_is_stored_under_the_configured_directory(tmp_path):
    first = run_program(tmp_path, "DefaultCache()", env_dir=tmp_path / "from-env")
    second = run_program(tmp_path, "DefaultCache()", env_dir=tmp_path / "from-env")
    assert first == second == "y\n4\n9\n"
    assert sorted((tmp_path / "calls.txt").read_text().split()) == ["2", "3"]
    assert list((tmp_path / "from-env").iterdir())


def test_disk_cache_in_one_process_across_two_runs(tmp_path):
    calls = []

    @pw.udf(cache_strategy=pw.udfs.DiskCache(directory=tmp_path))
    def size(w: str) -> int:
        calls.append(w)
        return len(w)

    assert_rows(words().select(n=size(pw.this.w)), [(1,), (2,), (1,)])
    assert_rows(words().select(n=size(pw.this.w)), [(1,), (2,), (1,)])
    assert sorted(calls) == ["a", "bb"]
