"""Streaming file sources: primary keys across files (class 4) and files caught while being
written (class 5)."""

import os
import time

import reflow as pw
from tests.io.live import Collector, run_while, write_atomic


class Keyed(pw.Schema):
    key: int = pw.column_definition(primary_key=True)
    value: str


def test_a_key_comes_back_from_the_file_still_holding_it(tmp_path):
    write_atomic(tmp_path / "a.csv", "key,value\n1,from-a\n2,only-a\n")
    table = pw.io.csv.read(tmp_path, schema=Keyed, mode="streaming", autocommit_duration_ms=10)
    data = Collector(table)

    def driver():
        data.wait_rows([(1, "from-a"), (2, "only-a")])
        write_atomic(tmp_path / "b.csv", "key,value\n1,from-b\n3,only-b\n")
        data.wait_rows([(1, "from-b"), (2, "only-a"), (3, "only-b")])
        os.remove(tmp_path / "b.csv")
        data.wait_rows([(1, "from-a"), (2, "only-a")])
        write_atomic(tmp_path / "b.csv", "key,value\n1,from-b\n")
        data.wait_rows([(1, "from-b"), (2, "only-a")])
        write_atomic(tmp_path / "b.csv", "key,value\n4,other\n")  # b gives key 1 up
        data.wait_rows([(1, "from-a"), (2, "only-a"), (4, "other")])
        write_atomic(tmp_path / "a.csv", "key,value\n2,only-a\n")  # and now a does too
        data.wait_rows([(2, "only-a"), (4, "other")])

    run_while(driver)
