"""Who used the CPU during a load run: the server, the broker, wrk and the write driver, each as a
share of one core (1.0: one core busy for the whole run). With the server on core 0 and everything
else on core 1, these shares say which core limited a figure."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def stat_seconds(stat: Path) -> float:
    """CPU seconds (user + system) in a /proc `stat` file of a process (every thread) or a thread."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) a running process used so far; 0 once it is gone."""
    try:
        return stat_seconds(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0


# The server's threads in groups, by the names the shop (shop/threads.py), Granian and librdkafka give
# them; a worker's own main thread runs the event loop.
THREAD_GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("librdkafka (C)", lambda name: name.startswith("rdk:")),
    ("Granian (tokio, Rust)", lambda name: name.startswith("tokio")),
    ("projections (consuming and applying in Rust)", lambda name: name.startswith("proj-")),
    ("relays (Python)", lambda name: name.endswith(("-pub", "-br"))),
    # The relays' (Python) and the shoppers' writes' (Rust: core_rs/src/kafka/commands.rs).
    ("delivery reports", lambda name: name == "delivery-report" or name.startswith("cmd-")),
    ("snapshots", lambda name: name.startswith("snap-")),
)
EVENT_LOOP = "event loop (Python)"
OTHER_THREADS = "other threads (Granian's Python hand-off)"


def thread_group(pid: int, tid: int, name: str) -> str:
    if tid == pid:
        return EVENT_LOOP
    return next((group for group, matches in THREAD_GROUPS if matches(name)), OTHER_THREADS)


# What a thread is counted under: (process id, thread id, thread name) -> its group.
Grouping = Callable[[int, int, str], str]


def thread_name(pid: int, tid: int, name: str) -> str:
    """Each thread under its own name (threads of one name summed)."""
    return name


def thread_seconds(pids: list[int], by: Grouping = thread_group) -> dict[str, float]:
    """CPU seconds used so far by the threads of `pids`, summed per group: `by` names it (by default
    the THREAD_GROUPS)."""
    return _per_group(pids, "stat", stat_seconds, by)


def thread_switches(pids: list[int]) -> dict[str, float]:
    """Times the threads of `pids` were switched off the CPU so far (they waited, or were
    preempted), summed per group: each costs the core a context switch."""
    return _per_group(pids, "status", switches)


def switches(status: Path) -> float:
    """Context switches (voluntary and not) in a /proc `status` file of a thread."""
    counts = (line.split()[1] for line in status.read_text().splitlines() if "ctxt_switches:" in line)
    return float(sum(map(int, counts)))


def _per_group(
    pids: list[int], file: str, measure: Callable[[Path], float], by: Grouping = thread_group
) -> dict[str, float]:
    """`measure` of each thread's /proc/<pid>/task/<tid>/`file`, summed per group (`by`)."""
    totals: dict[str, float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                name = (task / "comm").read_text().strip()
                value = measure(task / file)
            except OSError:
                continue  # the thread ended meanwhile
            group = by(pid, int(task.name), name)
            totals[group] = totals.get(group, 0.0) + value
    return totals


def children_seconds() -> float:
    """CPU seconds of the children this process has waited for (wrk runs, the write driver)."""
    times = os.times()
    return times.children_user + times.children_system


class Window:
    """A span of time over which it measures the CPU of `processes` (name → pids, each name's pids
    summed) and of the children reaped meanwhile (as `children_name`)."""

    def __init__(
        self, processes: dict[str, list[int]], children_name: str, threads_of: list[int] | None = None
    ) -> None:
        """`threads_of`: processes whose threads' CPU is also measured, per group, in `thread_shares`."""
        self.processes = processes
        self.children_name = children_name
        self.threads_of = threads_of or []
        self.shares: dict[str, float] = {}
        self.thread_shares: dict[str, float] = {}
        self.thread_switches: dict[str, float] = {}  # per second

    def _sample(self) -> dict[str, float]:
        sample = {name: sum(map(process_seconds, pids)) for name, pids in self.processes.items()}
        sample[self.children_name] = children_seconds()
        return sample

    def __enter__(self) -> Window:
        self._started = time.perf_counter()
        self._before = self._sample()
        self._threads_before = thread_seconds(self.threads_of)
        self._switches_before = thread_switches(self.threads_of)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        elapsed = time.perf_counter() - self._started
        after = self._sample()
        self.shares = {name: (after[name] - self._before[name]) / elapsed for name in after}
        self.thread_shares = _rates(thread_seconds(self.threads_of), self._threads_before, elapsed)
        self.thread_switches = _rates(thread_switches(self.threads_of), self._switches_before, elapsed)


def _rates(after: dict[str, float], before: dict[str, float], elapsed: float) -> dict[str, float]:
    return {group: (value - before.get(group, 0.0)) / elapsed for group, value in after.items()}
