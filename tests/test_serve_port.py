"""A start on a port in use fails at once with a clear message. Granian binds with SO_REUSEPORT,
so without a check of its own a second shop would bind the port of a running one and silently take
a share of its connections."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

from fixtures.host import REPO, free_port
from fixtures.server import ShopProcess, stop_group
from shop.config import Config
from tests.support.polling import eventually

# The check comes before anything touches Kafka: a refused start takes an interpreter's start.
REFUSED_WITHIN_S = 30


def port_locked(port: int) -> bool:
    """Whether a shop holds the lock of `port` (shop/cli.py check_port_free), read without taking it."""
    return f"@event-thingy-store-http-port-{port}" in Path("/proc/net/unix").read_text()


def assert_refused(shop: ShopProcess, message: str) -> None:
    shop.start(wait_ready=0)
    assert shop.process is not None
    try:
        code = shop.process.wait(REFUSED_WITHIN_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"a second shop serves on a port in use\n{shop.log_tail()}") from None
    assert code != 0
    assert message in shop.log_tail(), shop.log_tail()


def test_a_second_shop_on_the_port_of_a_starting_or_running_one_fails_at_once(
    config: Config, tmp_path: Path
) -> None:
    """Granian listens only once the shop has loaded: the port is claimed from the start."""
    first = ShopProcess(config, tmp_path / "first.log")
    port = first.config.http_port
    others = [ShopProcess(config, tmp_path / f"other-{i}.log") for i in range(2)]
    for other in others:
        other.config = dataclasses.replace(other.config, http_port=port)
    message = f"error: cannot serve on 127.0.0.1:{port}: another shop starts or serves on port {port}"
    try:
        first.start(wait_ready=0)
        eventually(lambda: port_locked(port), timeout=REFUSED_WITHIN_S, what="the first shop's claim")
        assert_refused(others[0], message)  # while the first starts
        first.wait_ready(60)
        assert_refused(others[1], message)  # while it serves
        assert first.get("/readyz").status_code == 200  # the first goes on, alone
    finally:
        for shop in [*others, first]:
            shop.stop()
    assert not port_locked(port)  # released with the process


def test_run_refuses_a_port_in_use_before_it_imports_anything(config: Config) -> None:
    """Held here as Granian holds it (SO_REUSEPORT, listening)."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        port = held.getsockname()[1]
        env = {**os.environ, **dataclasses.replace(config, http_port=port, sample_rows=10).to_env()}
        run = subprocess.Popen(
            [sys.executable, "-m", "shop", "run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: stop_group reaches Granian's workers too
        )
        try:
            _out, stderr = run.communicate(timeout=REFUSED_WITHIN_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("shop run serves on a port in use") from None
        finally:
            stop_group(run)
    assert run.returncode != 0
    assert f"error: cannot serve on 127.0.0.1:{port}: Address already in use" in stderr
    assert "importing" not in stderr
