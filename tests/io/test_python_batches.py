"""``pw.io.python.read`` with many rows per commit: ids, interleaved deletions, commit times."""

from __future__ import annotations

import reflow as pw
from tests.io.live import Collector
from tests.io.test_python import Item, Scripted


def test_many_rows_over_several_commits_get_distinct_ids_and_deletes_apply_in_order():
    def script(s):
        for i in range(1500):
            s.next(name=f"n{i % 7}", qty=i)
        s.commit()
        for i in range(1500, 2600):
            s.next(name=f"n{i % 7}", qty=i)
            if i == 2000:
                s.delete(name="n0", qty=7)  # from the first commit
                s.delete(name="n3", qty=1998)  # from this commit, sent just before
        s.commit()
        s.delete(name="n1", qty=2500)
        s.next(name="n1", qty=2500)  # delete then re-insert in one commit

    t = pw.io.python.read(Scripted(script), schema=Item, autocommit_duration_ms=None)
    out = Collector(t)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    expected = sorted(
        ((f"n{i % 7}", i) for i in range(2600) if i not in (7, 1998)), key=repr
    )
    assert out.rows() == expected
    assert len(out.state) == 2598  # one id per row
    assert len(out.times_ended) == 3  # each commit is a logical time of its own
    assert ("n1", 2500, out.times_ended[2], -1) in out.updates
    assert ("n1", 2500, out.times_ended[2], 1) in out.updates
