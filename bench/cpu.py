"""Who used the CPU during a load run: the server, the broker, wrk and the write driver, each as a
share of one core (1.0: one core busy for the whole run). With the server on core 0 and everything
else on core 1, these shares say which core limited a figure."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) a running process used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def children_seconds() -> float:
    """CPU seconds of the children this process has waited for (wrk runs, the write driver)."""
    times = os.times()
    return times.children_user + times.children_system


class Window:
    """A span of time over which it measures the CPU of `processes` (name → pids, each name's pids
    summed) and of the children reaped meanwhile (as `children_name`)."""

    def __init__(self, processes: dict[str, list[int]], children_name: str) -> None:
        self.processes = processes
        self.children_name = children_name
        self.shares: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        sample = {name: sum(map(process_seconds, pids)) for name, pids in self.processes.items()}
        sample[self.children_name] = children_seconds()
        return sample

    def __enter__(self) -> Window:
        self._started = time.perf_counter()
        self._before = self._sample()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        elapsed = time.perf_counter() - self._started
        after = self._sample()
        self.shares = {name: (after[name] - self._before[name]) / elapsed for name in after}
