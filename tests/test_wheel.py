"""The wheel as a packager ships it: built with maturin, installed into a fresh virtual environment,
`shop --version` and `shop run` against a real broker, serving a catalog page, the storefront and
the sample content it imported (shipped in the package: nothing of the source tree is at hand)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

from fixtures.host import REPO, free_port
from fixtures.server import stop_group
from shop import __version__
from shop.config import Config


def build_wheel(out: Path) -> Path:
    maturin = Path(sys.executable).parent / "maturin"
    subprocess.run(
        [str(maturin), "build", "--release", "--quiet", "--out", str(out)],
        cwd=REPO,
        # The interpreter `make build` names: another one changes pyo3's build configuration and
        # cargo rebuilds the whole crate (2 minutes) instead of reusing the extension's build.
        env={**os.environ, "PYO3_PYTHON": str(REPO / ".venv" / "bin" / "python")},
        check=True,
        capture_output=True,
        timeout=900,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def test_the_wheel_installs_and_runs_the_shop(config: Config, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    assert "abi3" in wheel.name and "manylinux" in wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in (
        "shop/_core.abi3.so",
        "shop/_core.pyi",
        "shop/py.typed",
        "shop/_proto/catalog_pb2.py",
        "shop/sample_content/home-hero.md",
    ):
        assert shipped in names
    assert "shop/static/index.html" in names  # the storefront, built from web/ by `make build`
    assert any(name.startswith("shop/static/assets/") and name.endswith(".js") for name in names)
    # `make build` writes the package's bytecode beside it, for this tree's starts only.
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)]
    subprocess.run(pip, check=True, timeout=600, capture_output=True)
    shop = str(venv / "bin" / "shop")
    version = subprocess.run([shop, "--version"], check=True, capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"shop {__version__}"

    port = free_port()
    env = {**os.environ, **config.to_env(), "SHOP_HTTP_PORT": str(port), "SHOP_SAMPLE_ROWS": "50"}
    del env["SHOP_SAMPLE_CONTENT"]  # the default: the content inside the installed package
    log = tmp_path / "shop.log"
    with open(log, "wb") as out:
        # Run from a folder without the source tree, so only the installed wheel can be imported.
        process = subprocess.Popen(
            [shop, "run"], cwd=tmp_path, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        # Ready: every projection loaded, the content too (the products page answers before).
        ready = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not ready:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            time.sleep(0.2)
        assert ready, log.read_text()
        page = httpx.get(f"http://127.0.0.1:{port}/api/v1/products?per_page=5", timeout=10).json()
        assert page["total"] == 50
        assert len(page["items"]) == 5
        assert_serves_storefront_and_sample_content(f"http://127.0.0.1:{port}")
    finally:
        stop_group(process)


def assert_serves_storefront_and_sample_content(url: str) -> None:
    storefront = httpx.get(f"{url}/cart", timeout=10)
    assert storefront.status_code == 200
    assert storefront.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Event Thingy Store</title>" in storefront.text
    script = storefront.text.split('src="', 1)[1].split('"', 1)[0]
    asset = httpx.get(f"{url}{script}", timeout=10)
    assert asset.status_code == 200
    assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "immutable" in asset.headers["cache-control"]
    hero = httpx.get(f"{url}/api/v1/content/home-hero", timeout=10)
    assert hero.status_code == 200, hero.text
    assert "<strong>order today</strong>" in hero.json()["html"]
    pages = httpx.get(f"{url}/api/v1/content?kind=page", timeout=10).json()["items"]
    assert {"shipping", "returns", "imprint"} <= {page["slug"] for page in pages}
