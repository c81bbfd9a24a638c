"""Real Kafka brokers for tests: started with ops/kafka/kafka.sh on free ports, stopped by pid."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
        result = subprocess.run(
            [str(SCRIPT), "start"], check=False, env=self._env(), capture_output=True, timeout=150
        )
        if result.returncode != 0:
            raise RuntimeError(f"broker on port {self.port} did not start: {result.stderr.decode()}")

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop"], env=self._env(), check=True, capture_output=True, timeout=60)

    def signal(self, signum: int) -> None:
        """SIGSTOP freezes the broker (connections stay open, nothing answers), SIGCONT thaws it."""
        os.kill(self.pid(), signum)

    def kill(self) -> None:
        """SIGKILL, as a crash would; returns once the process is gone."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise TimeoutError(f"broker pid {pid} survived SIGKILL")

    def pid(self) -> int:
        return int((self.data_dir / "kafka.pid").read_text())


def single_broker(data_dir: Path) -> Broker:
    port = free_port()
    return Broker(data_dir, port, free_port(), {})


def single_broker_behind(data_dir: Path, advertised_port: int) -> Broker:
    """A broker that tells its clients to connect to `advertised_port` (a proxy in front of it)."""
    return Broker(data_dir, free_port(), free_port(), {"KAFKA_ADVERTISED_PORT": str(advertised_port)})


# A dead node is fenced (its partitions get new leaders, it leaves the ISRs) after this long without
# a heartbeat; Kafka's 9 s default would make each failover a long pause in a test.
CLUSTER_SESSION_TIMEOUT_MS = 3000


@dataclass
class Cluster:
    """Several KRaft nodes on loopback ports, each broker and controller, all of them voters."""

    nodes: list[Broker] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self) -> None:
        """Starts every node at once: none finishes starting before a quorum of voters runs."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            for result in pool.map(lambda node: node.start(), self.nodes):
                assert result is None

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))

    def node(self, node_id: int) -> Broker:
        return self.nodes[node_id - 1]


def cluster(data_dir: Path, size: int = 3, min_isr: int = 2, heap: str = "256m") -> Cluster:
    ports = [(free_port(), free_port()) for _ in range(size)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{controller}" for i, (_port, controller) in enumerate(ports))
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    properties = "\n".join(
        [
            f"broker.session.timeout.ms={CLUSTER_SESSION_TIMEOUT_MS}",
            f"broker.heartbeat.interval.ms={CLUSTER_SESSION_TIMEOUT_MS // 3}",
        ]
    )
    nodes = []
    for i, (port, controller_port) in enumerate(ports):
        settings = {
            "KAFKA_NODE_ID": str(i + 1),
            "KAFKA_QUORUM_VOTERS": voters,
            "KAFKA_CLUSTER_ID": cluster_id,
            "KAFKA_REPLICATION": str(size),
            "KAFKA_MIN_ISR": str(min_isr),
            "KAFKA_HEAP": heap,
            "KAFKA_PROPERTIES": properties,
        }
        nodes.append(Broker(data_dir / f"node{i + 1}", port, controller_port, settings))
    return Cluster(nodes)
