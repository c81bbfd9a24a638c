"""py-spy on the shop's server process: flame graphs, and the frames that take the most samples."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.processes import Server

SECONDS = 10
RATE = 100  # samples per second: enough for a flame graph, light on a 2-core machine
LOADS = ("reads", "reads-under-writes", "cart-writes")
# Leaves where a thread waits (for the GIL, a lock, a socket, a timer) rather than works. glibc's
# epoll_wait is epoll_pwait underneath and its frame is named so; counted as work, it would top
# every table with the event loop's idle time. py-spy samples runnable threads too, and on the one
# core the server is pinned to, a thread runnable but not running is often found returning from
# getpid (asyncio's get_running_loop calls it on every call in Python 3.11): 20% of the samples
# under writes, where perf, which samples running threads only, puts 0.04% and strace counts 3,000
# calls/s at about 0.2 us each.
WAITING = (
    "getpid",
    "epoll_wait",
    "epoll_pwait",
    "syscall",
    "futex",
    "pthread_cond",
    "sem_wait",
    "take_gil",
    "select",
    "poll (",
    "nanosleep",
)


def record(pid: int, seconds: float, output: Path, raw: bool) -> subprocess.Popen[bytes]:
    """py-spy on `pid` for `seconds`, in the background; `raw` writes collapsed stacks, else an SVG."""
    py_spy = str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--native", "-r", str(RATE), "-d", str(int(seconds))]
    argv += ["--format", "raw" if raw else "flamegraph", "-o", str(output), "-p", str(pid)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def top_frames(collapsed: Path, count: int = 12) -> list[tuple[float, str]]:
    """The leaf frames with the most samples, as shares of the samples where a thread worked."""
    leaves: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack_text, _, samples = line.rpartition(" ")
        leaf = stack_text.rsplit(";", 1)[-1]
        if not any(mark in leaf for mark in WAITING) and not leaf.startswith("0x"):
            leaves[leaf] += int(samples)
    working = sum(leaves.values()) or 1
    return [(samples / working, frame) for frame, samples in leaves.most_common(count)]


def profile_load(shop: Server, load: Callable[[float], object], output: Path) -> Path:
    """Runs `load` while py-spy records the shop's worker into `output` (.svg: a flame graph, else
    collapsed stacks); returns `output`."""
    raw = output.suffix != ".svg"
    spy = record(shop.worker_pid(), SECONDS, output, raw)
    time.sleep(1)  # py-spy attached before the load begins
    load(SECONDS - 2)
    _, errors = spy.communicate(timeout=SECONDS + 60)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')}")
    return output
