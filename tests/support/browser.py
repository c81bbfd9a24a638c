"""The browser tests' node scripts (web/e2e/: playwright-core driving Debian's chromium), each run in
a process group of its own, so that on a timeout the script and the browser it started stop
together."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.host import REPO
from fixtures.server import stop_group


@dataclass(frozen=True)
class Finished:
    returncode: int
    out: str
    err: str


def run_script(script: Path, env: dict[str, str], timeout: float) -> Finished:
    """Runs `script` with node in web/, with `env` and CHROMIUM (Debian's) added to the environment;
    fails the test if it takes over `timeout` seconds."""
    chromium = shutil.which("chromium")
    assert chromium is not None, "chromium is missing: `make test-py` installs it with apt-get"
    process = subprocess.Popen(
        ["node", str(script)],
        cwd=REPO / "web",
        env={**os.environ, "CHROMIUM": chromium, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process)
        out, err = process.communicate()
        pytest.fail(f"{script.name} took over {timeout}s\n{out}\n{err}")
    return Finished(process.returncode, out, err)
