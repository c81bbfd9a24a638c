"""The server's threads: named in the operating system (shop/threads.py) and run under the
configured Linux scheduling policy (shop/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.host import REPO
from fixtures.server import ShopProcess
from shop.config import Config

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux threads")
# The threads a serving shop starts, as `top -H` shows them: projections, relays, and one thread
# serving delivery reports per producer.
PROJECTIONS = {"proj-catalog", "proj-co", "proj-ful"}
RELAYS = {"pim-pub", "catalog-br", "co-pim-br", "co-ful-br", "co-pub", "ful-br", "ful-pub"}
SHOP_THREADS = PROJECTIONS | RELAYS | {"delivery-report"}


def group_threads(leader: int) -> list[int]:
    """Every thread of every process in the process group `leader` (the server and its workers)."""
    tids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) == leader:
                tids += [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        except (ProcessLookupError, FileNotFoundError):
            continue
    return tids


def named_policies(tids: list[int]) -> dict[int, tuple[str, int]]:
    """Each thread's name and CPU policy, read together; a thread that ended since it was listed
    (a short-lived one) is left out."""
    found = {}
    for tid in tids:
        try:
            found[tid] = (Path(f"/proc/{tid}/comm").read_text().strip(), os.sched_getscheduler(tid))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def test_a_serving_shop_names_its_threads_and_runs_them_all_as_sched_batch(
    config: Config, tmp_path: Path
) -> None:
    shop = ShopProcess(config, tmp_path / "shop.log").start()
    try:
        assert shop.process is not None
        threads = named_policies(group_threads(shop.process.pid))
        names = {name for name, _ in threads.values()}
        assert not SHOP_THREADS - names, names
        assert any(name.startswith("rdk:") for name in names)  # librdkafka names its own
        # Granian's tokio threads, the event loop, the projections, relays and librdkafka's threads.
        policies = {tid: policy for tid, (_, policy) in threads.items()}
        assert set(policies.values()) == {os.SCHED_BATCH}, policies
    finally:
        shop.stop()


def policy_after(setting: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter sets `setting`, then reports the policy of a thread it starts afterwards."""
    code = (
        "import os, sys, threading; from shop.cli import set_cpu_policy;"
        "set_cpu_policy(sys.argv[1]); seen = [];"
        "t = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0))); t.start(); t.join();"
        "print(seen[0])"
    )
    return subprocess.run(
        [sys.executable, "-c", code, setting], check=False, cwd=REPO, capture_output=True, text=True
    )


def test_the_policy_is_inherited_by_threads_started_afterwards() -> None:
    assert policy_after("batch").stdout.strip() == str(os.SCHED_BATCH)
    assert policy_after("normal").stdout.strip() == str(os.SCHED_OTHER)


def test_an_unknown_policy_is_refused_with_the_choices() -> None:
    result = policy_after("fifo")
    assert result.returncode == 1
    assert "SHOP_CPU_POLICY='fifo': expected one of batch, normal" in result.stderr
