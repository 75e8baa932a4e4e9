"""Serving benchmark: reflow's ``pw.io.http`` against Pathway 0.33 in one run.

1. Query answering: the same pipeline on both engines (``serving_server.py --mode rest``):
   each request is a lookup, by a left join, of its key in a 1M-row table. The server runs in
   its own process; this process is the load: an asyncio client on loopback sending a
   bounded number of requests with a bounded concurrency, checking every answer. Reported:
   requests/s, p50 and p99 latency, errors, and the time until the first correct answer.
2. Live tables (reflow only; Pathway has no equivalent): 1,000 clients follow one table's
   Server-Sent Events stream while it is revised; every client must receive every revision.
   Reported: revisions received, and the delay from a revision's logical time (wall-clock
   milliseconds of its commit) to its arrival at each client (p50/p99).

Run with reflow's interpreter::

    .venv/bin/python benchmarks/serving.py [--size 1000000] [--requests 4000]
        [--concurrency 32] [--subscribers 1000] [--repeat 3]
        [--report benchmarks/results/serving.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DATA_DIR, REPO_DIR, SectionReport, percentile

PYTHONS = {
    "reflow": str(REPO_DIR / ".venv" / "bin" / "python"),
    "pathway": str(Path(__file__).resolve().parent / ".venvs" / "pathway" / "bin" / "python"),
}
SERVER = str(Path(__file__).resolve().parent / "serving_server.py")


def value_of(key: int) -> int:
    return key * 7919 % 1_000_003


def prepare(size: int) -> Path:
    path = DEFAULT_DATA_DIR / f"serving_{size}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as out:
            out.write("key,value\n")
            out.writelines(f"{k},{value_of(k)}\n" for k in range(size))
        tmp.replace(path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(engine: str, args: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHONS[engine], SERVER, "--engine", engine, "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    return process, port


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def first_answer(url: str, deadline_s: float) -> float:
    """Seconds until the server answers a lookup correctly."""
    import httpx

    began = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() - began < deadline_s:
            try:
                response = await client.post(url, json={"key": 1})
                if response.status_code == 200 and response.json() == value_of(1):
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"no correct answer from {url} within {deadline_s} s")


async def load(url: str, size: int, requests: int, concurrency: int) -> dict:
    """``requests`` lookups over ``concurrency`` keep-alive connections (HTTP/1.1 on asyncio
    streams: httpx's async pool, not the servers, limited the rate on this machine)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    keys = random.Random(7).choices(range(size), k=requests)
    latencies: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue = asyncio.Queue()
    for key in keys:
        queue.put_nowait(key)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty():
                key = queue.get_nowait()
                body = json.dumps({"key": key}).encode()
                began = time.perf_counter()
                writer.write(
                    f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                    f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
                )
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                if status != 200 or json.loads(answer) != value_of(key):
                    errors.append(f"{status} {answer[:60]!r}")
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "requests_per_s": requests / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def measure_rest(engine: str, data: Path, args) -> dict:
    process, port = start(engine, ["--mode", "rest", "--data", str(data),
                                   "--autocommit-ms", str(args.autocommit_ms)])
    url = f"http://127.0.0.1:{port}/lookup"
    try:
        ready_s = asyncio.run(first_answer(url, 600))
        asyncio.run(load(url, args.size, min(200, args.requests), args.concurrency))  # warm-up
        result = asyncio.run(load(url, args.size, args.requests, args.concurrency))
        result["ready_s"] = ready_s
        return result
    finally:
        stop(process)


async def follow(port: int, revisions: int, arrivals: list, counts: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /scores/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    seen = 0
    while seen < revisions:
        line = await reader.readline()
        if not line:
            break
        if line.startswith(b"data: ") and b'"changes"' in line:
            now_ms = time.time() * 1000
            data = json.loads(line[6:])
            arrivals.append(now_ms - data["time"])
            seen += 1
    counts.append(seen)
    writer.close()


async def subscribers(port: int, n: int, revisions: int) -> dict:
    arrivals: list[float] = []
    counts: list[int] = []
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(follow(port, revisions, arrivals, counts)))
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*tasks), 600)
    return {
        "complete": sum(1 for c in counts if c == revisions),
        "received": sum(counts),
        "p50_ms": percentile(arrivals, 50),
        "p99_ms": percentile(arrivals, 99),
    }


def measure_sse(args) -> dict:
    process, port = start("reflow", ["--mode", "sse", "--subscribers", str(args.subscribers),
                                     "--revisions", str(args.revisions),
                                     "--interval-ms", str(args.interval_ms)])
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("SERVER-STARTING"), line
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return asyncio.run(subscribers(port, args.subscribers, args.revisions))
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--autocommit-ms", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--engines", default="reflow,pathway")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()
    data = prepare(args.size)
    load_average = os.getloadavg()[0]
    report = SectionReport(
        "Serving: REST queries and live tables over HTTP",
        [
            f"Lookup join of each request against a {args.size:,}-row table; the same pipeline "
            f"on both engines; {args.requests:,} POST requests, {args.concurrency} at a time, "
            f"from an asyncio client (keep-alive connections) in a second process on loopback; "
            f"autocommit {args.autocommit_ms} ms. Every answer is checked.",
            f"Load average at the start: {load_average:.1f} (2 cores).",
        ],
    )
    engines = [e for e in args.engines.split(",") if e and Path(PYTHONS[e]).exists()]
    for engine in set(args.engines.split(",")) - set(engines) - {""}:
        report.say(f"- {engine}: not installed ({PYTHONS[engine]})")
    runs: dict[str, list[dict]] = {engine: [] for engine in engines}
    for _ in range(args.repeat):  # engines alternate, so a change of load hits both
        for engine in engines:
            runs[engine].append(measure_rest(engine, data, args))
    results = {}
    for engine, measured in runs.items():
        r = {k: statistics.median(m[k] for m in measured)
             for k in ("requests_per_s", "p50_ms", "p99_ms", "ready_s")}
        r["errors"] = sum(m["errors"] for m in measured)
        results[engine] = r
        each = ", ".join(f"{m['requests_per_s']:.0f}/s p99 {m['p99_ms']:.0f} ms" for m in measured)
        report.say(
            f"- {engine}: {r['requests_per_s']:.0f} requests/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms (medians of {len(measured)} runs: {each}); "
            f"{r['errors']} errors; first correct answer {r['ready_s']:.1f} s after start"
        )
    if "reflow" in results and "pathway" in results:
        a, b = results["reflow"], results["pathway"]
        report.say(
            f"- reflow / Pathway: requests/s {a['requests_per_s'] / b['requests_per_s']:.2f}x "
            f"(goal >= 2x), p99 {a['p99_ms'] / b['p99_ms']:.2f}x (goal < 1x), "
            f"p50 {a['p50_ms'] / b['p50_ms']:.2f}x"
        )
    if args.subscribers:
        s = measure_sse(args)
        report.say(
            f"- live table: {args.subscribers} SSE subscribers x {args.revisions} revisions "
            f"(one every {args.interval_ms} ms): "
            f"{s['complete']} subscribers received every revision ({s['received']:,} events); "
            f"delay from commit to arrival p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms"
        )
    report.say(f"- load average at the end: {os.getloadavg()[0]:.1f}")
    if args.report:
        report.write(args.report)


if __name__ == "__main__":
    main()
