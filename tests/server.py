"""The shop as a real process for integration tests: `python -m shop serve` on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shop.config import Config
from tests.kafka_broker import REPO, free_port

# One series of a Prometheus text exposition: its name and sorted labels; and its samples by series.
Series = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[Series, float]


def metric_samples(text: str) -> Samples:
    return {
        series(sample.name, sample.labels): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def series(name: str, labels: dict[str, str] | None = None) -> Series:
    return name, tuple(sorted((labels or {}).items()))


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stops a process started with start_new_session=True and everything it started."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class ShopProcess:
    def __init__(self, config: Config, log_path: Path) -> None:
        self.config = Config(**{**config.__dict__, "http_port": free_port()})
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.http_port}"

    def start(self, wait_ready: float = 60.0) -> ShopProcess:
        env = {**os.environ, **self.config.to_env()}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shop", "serve"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: a kill reaches Granian's workers too
            )
        if wait_ready:
            self.wait_ready(wait_ready)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_tail()
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"shop not ready after {timeout}s\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, as an orchestrator would; the whole process group is killed if it lingers."""
        if self.process is not None:
            stop_group(self.process)

    def kill(self) -> None:
        """SIGKILL to the server and its workers, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def metrics(self) -> Samples:
        """Every sample /metrics reports now."""
        return metric_samples(self.get("/metrics").text)

    def metric(self, name: str, labels: dict[str, str] | None = None, default: float | None = None) -> float:
        """The value of one series of /metrics; `default` (or KeyError) while the shop does not
        report it (a labelled counter appears at its first increment)."""
        value = self.metrics().get(series(name, labels), default)
        if value is None:
            raise KeyError(name)
        return value
