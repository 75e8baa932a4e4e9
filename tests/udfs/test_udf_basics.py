"""``pw.udf``, ``pw.UDF``, ``pw.apply*``: result types, arguments and None handling."""

import reflow as pw
from tests.utils import T, assert_rows, rows


def words():
    return T(
        """
          | w     | n
        1 | hello | 2
        2 | hi    | 3
        """
    )


def test_decorator_bare_and_with_options():
    @pw.udf
    def shout(w: str) -> str:
        return w.upper()

    @pw.udf(return_type=int, deterministic=True)
    def size(w):
        return len(w)

    r = words().select(s=shout(pw.this.w), k=size(pw.this.w))
    assert r.typehints() == {"s": str, "k": int}
    assert_rows(r, [("HELLO", 5), ("HI", 2)])


def test_keyword_arguments_and_literals():
    @pw.udf
    def repeat(w: str, times: int, sep: str = "") -> str:
        return sep.join([w] * times)

    r = words().select(r=repeat(pw.this.w, times=pw.this.n, sep="-"))
    assert_rows(r, [("hello-hello",), ("hi-hi-hi",)])


def test_udf_class_with_state():
    class Scale(pw.UDF):
        def __init__(self, factor: int) -> None:
            super().__init__(deterministic=True)
            self.factor = factor

        def __wrapped__(self, n: int) -> int:
            return n * self.factor

    r = words().select(m=Scale(10)(pw.this.n))
    assert r.typehints() == {"m": int}
    assert_rows(r, [(20,), (30,)])


def test_async_udf_class():
    class Echo(pw.UDF):
        async def __wrapped__(self, w: str) -> str:
            return w + "!"

    assert_rows(words().select(e=Echo()(pw.this.w)), [("hello!",), ("hi!",)])


def test_propagate_none_skips_the_call():
    calls = []

    @pw.udf(propagate_none=True)
    def inc(x: int) -> int:
        calls.append(x)
        return x + 1

    t = T(
        """
        x
        1
        None
        """
    )
    r = t.select(y=inc(pw.this.x))
    assert r.typehints() == {"y": int | None}
    assert_rows(r, [(2,), (None,)])
    assert calls == [1]


def test_udf_without_arguments_is_called_once_per_row():
    counter = iter(range(100))

    @pw.udf
    def ticket() -> int:
        return next(counter)

    r = words().select(t=ticket())
    assert sorted(v for (v,) in rows(r)) == [0, 1]



def test_apply_apply_with_type_and_apply_async():
    async def twice(n: int) -> int:
        return 2 * n

    t = words()
    r = t.select(
        a=pw.apply(lambda w: w[0], pw.this.w),
        b=pw.apply_with_type(lambda n: n / 2, float, pw.this.n),
        c=pw.apply_async(twice, pw.this.n),
    )
    assert r.typehints()["b"] is float
    assert r.typehints()["c"] is int
    assert_rows(r, [("h", 1.0, 4), ("h", 1.5, 6)])


def test_result_of_the_wrong_type_is_an_error_value():
    @pw.udf
    def bad(n: int) -> int:
        return "not a number"

    expected = [(pw.ERROR,), (pw.ERROR,)]
    assert_rows(words().select(b=bad(pw.this.n)), expected, terminate_on_error=False)


def test_batched_udf_with_keywords_and_none_propagation():
    seen = []

    @pw.udf(max_batch_size=8, propagate_none=True)
    def join_words(words: list[str], *, sep: list[str]) -> list[str]:
        seen.append(list(words))
        return [s.join([w, w]) for w, s in zip(words, sep)]

    t = T(
        """
          | w
        1 | ab
        2 | None
        3 | c
        """
    )
    r = t.select(j=join_words(pw.this.w, sep="+"))
    assert r.typehints() == {"j": str | None}
    assert_rows(r, [("ab+ab",), ("c+c",), (None,)])
    assert [sorted(words) for words in seen] == [["ab", "c"]]


def test_non_deterministic_udf_inside_with_columns_and_if_else():
    calls = []

    @pw.udf
    def tag(n: int) -> str:
        calls.append(n)
        return f"#{n}"

    r = words().with_columns(t=pw.if_else(pw.this.n > 2, tag(pw.this.n), "small"))
    assert_rows(r, [("hello", 2, "small"), ("hi", 3, "#3")])
    assert calls == [3]  # only the branch that is taken is computed
