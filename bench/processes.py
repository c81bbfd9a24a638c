"""Processes a benchmark starts: the shop, the floor app, pinned to CPUs; each stopped by its pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fixtures.host import REPO, free_port
from fixtures.server import stop_group
from shop.config import Config

SERVER_CPU = "0"  # the server under test
LOAD_CPU = "1"  # wrk, the write driver and the broker
POLL_S = 0.02


def pinned(cpus: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus is not None else argv


def pin_process(pid: int, cpus: str) -> None:
    """Moves every thread of a running process (the broker's JVM) to `cpus`."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


def http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


class Server:
    """A process serving HTTP on 127.0.0.1:`port`, in its own process group."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        with open(self.log_path, "ab") as log:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=log,
                start_new_session=True,  # one group: stopping it reaches Granian's worker too
            )
        return self

    def wait_until(self, path: str, status: int, timeout: float) -> float:
        """Seconds from start until `path` answered `status`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.argv} exited; see {self.log_path}")
            if http_status(self.url + path) == status:
                return time.perf_counter() - self.started_at
            time.sleep(POLL_S)
        raise TimeoutError(f"{self.url}{path} did not answer {status} in {timeout}s; see {self.log_path}")

    def pids(self) -> list[int]:
        """The server's process and every process under it (Granian's workers)."""
        assert self.process is not None
        return [self.process.pid, *_descendants(self.process.pid)]

    def worker_pid(self) -> int:
        """The pid of Granian's worker process (the one running the app), child of the server."""
        assert self.process is not None
        for pid in _descendants(self.process.pid):
            if "python" in _command(pid):
                return pid
        raise RuntimeError(f"no worker process under pid {self.process.pid}")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None


def shop_server(config: Config, cpus: str | None, log_path: Path) -> Server:
    port = free_port()
    env = {**Config(**{**config.__dict__, "http_port": port}).to_env()}
    return Server(pinned(cpus, [sys.executable, "-m", "shop", "serve"]), port, env, log_path)


def floor_server(body_path: Path, content_type: str, cpus: str | None, log_path: Path) -> Server:
    port = free_port()
    env = {"BENCH_FLOOR_BODY": str(body_path), "BENCH_FLOOR_TYPE": content_type}
    argv = [sys.executable, "-m", "bench.floor_app", str(port)]
    return Server(pinned(cpus, argv), port, env, log_path)


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            found.extend(_descendants(child))
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def process_rss_bytes(pids: list[int]) -> int:
    """Resident bytes summed over processes (a server and its workers)."""
    return sum(rss_bytes(pid) for pid in pids)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
