"""Facts about the machine and the software a benchmark ran on, for the results."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import confluent_kafka

from fixtures.host import REPO


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def kafka_version() -> str:
    jars = sorted((REPO / "ops" / "kafka" / "lib").glob("kafka_2.13-*.jar"))
    return jars[0].stem.removeprefix("kafka_2.13-") if jars else "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: above the core count, other work shared the machine."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def facts() -> dict[str, str]:
    librdkafka = confluent_kafka.libversion()[0]
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rust": _first_line(["rustc", "--version"]),
        "kafka": kafka_version(),
        "granian": metadata.version("granian"),
        "confluent-kafka": f"{metadata.version('confluent-kafka')} (librdkafka {librdkafka})",
        "pyperf": metadata.version("pyperf"),
        "wrk": _first_line(["wrk", "--version"]).split(" [")[0],
        "load average at start": load_average(),
    }
