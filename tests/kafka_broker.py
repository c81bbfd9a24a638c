"""Real Kafka brokers for tests: started with ops/kafka/kafka.sh on free ports, stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "ops" / "kafka" / "kafka.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    data_dir: Path
    port: int
    controller_port: int
    env_extra: dict[str, str]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_DATA_DIR": str(self.data_dir),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP": "384m",
            **self.env_extra,
        }

    def start(self) -> None:
        subprocess.run([str(SCRIPT), "start"], env=self._env(), check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop"], env=self._env(), check=True, capture_output=True, timeout=60)

    def kill(self) -> None:
        """SIGKILL, as a crash would; returns once the process is gone."""
        pid = int((self.data_dir / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise TimeoutError(f"broker pid {pid} survived SIGKILL")


def single_broker(data_dir: Path) -> Broker:
    port = free_port()
    return Broker(data_dir, port, free_port(), {})
