"""wrk (Debian's package): one bounded load run, pinned to the load CPU, its output parsed."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.processes import LOAD_CPU, pinned

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
LATENCY_LINE = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors: a run with errors is not a valid figure


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    return found


def run(
    url: str,
    connections: int,
    seconds: float,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    cpus: str | None = LOAD_CPU,
) -> WrkResult:
    """`connections` keep-alive connections from one thread for `seconds`, with latency percentiles;
    `script_args` go to the Lua script's init."""
    argv = [wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    done = subprocess.run(
        pinned(cpus, argv), capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    return parse(done.stdout)


def parse(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    latencies = {int(p): float(v) * UNITS[unit] for p, v, unit in LATENCY_LINE.findall(output)}
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return WrkResult(float(rate.group(1)), latencies[50], latencies[99], int(total.group(1)), errors)
