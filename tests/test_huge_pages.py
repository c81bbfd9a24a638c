"""Transparent huge pages for a serving process's heap (shop/huge_pages.py): a serving command
starts itself over once, same pid, with glibc's malloc asking for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.host import REPO
from fixtures.server import ShopProcess
from shop.config import Config
from shop.huge_pages import ASKED, ON_GLIBC, tunables_with_huge_pages

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
pytestmark = pytest.mark.skipif(not ON_GLIBC, reason="glibc on Linux")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("", ASKED),
        ("glibc.malloc.arena_max=2", f"glibc.malloc.arena_max=2:{ASKED}"),
        ("glibc.malloc.hugetlb=0", None),  # the operator's choice wins
        ("glibc.malloc.hugetlb=2:glibc.malloc.arena_max=2", None),
        (":glibc.malloc.arena_max=2:", f"glibc.malloc.arena_max=2:{ASKED}"),
    ],
)
def test_the_tunable_is_added_once_and_never_overrides_an_operator(
    current: str, expected: str | None
) -> None:
    assert tunables_with_huge_pages(current) == expected


# Starts over with huge pages, then fills 64 MiB of malloc's heap and reports what backs it.
STARTS_OVER = """
import os
from shop.huge_pages import start_over_with_huge_pages
start_over_with_huge_pages()
kept = [bytes(4096) for _ in range(16384)]
huge = next(l for l in open("/proc/self/smaps_rollup") if l.startswith("AnonHugePages:"))
print(os.getpid(), os.environ["GLIBC_TUNABLES"], int(huge.split()[1]))
"""


def test_a_process_starts_over_once_with_the_same_pid_and_its_heap_on_huge_pages() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    process = subprocess.Popen(
        [sys.executable, "-c", STARTS_OVER], cwd=REPO, env=environment, stdout=subprocess.PIPE, text=True
    )
    output, _ = process.communicate(timeout=60)
    pid, tunables, huge_kib = output.split()
    assert (int(pid), tunables) == (process.pid, ASKED)
    if "[never]" not in THP.read_text():
        assert int(huge_kib) >= 16 * 1024, "malloc's heap is not on huge pages"


def test_a_serving_shop_runs_with_huge_pages_asked_for(config: Config, tmp_path: Path) -> None:
    shop = ShopProcess(config, tmp_path / "shop.log").start()
    try:
        assert shop.process is not None
        environment = Path(f"/proc/{shop.process.pid}/environ").read_bytes().split(b"\0")
        assert f"GLIBC_TUNABLES={ASKED}".encode() in environment
    finally:
        shop.stop()
