"""`make profile`: py-spy flame graphs (SVG) of the shop's server process under wrk load.

    python -m bench.profile [reads] [reads-under-writes] [cart-writes] [browse] [uncached]

Starts its own broker with the quick data set (BENCH_PROFILE_PRODUCTS, 50,000 by default), the shop
on core 0 and wrk on core 1 as `make bench` does, and records bench/results/profile-<load>.svg
(Python and native frames: the Rust extension shows by function). Also prints the frames that take
the most samples, which `python -m bench` puts into latest.md for the loads it profiles.
"""

from __future__ import annotations

import logging
import os
import sys

from bench import http_load, stack
from bench.processes import SERVER_CPU
from bench.pyspy import profile_load, top_frames
from bench.report import RESULTS

log = logging.getLogger("bench")


def main(names: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    rows = int(os.environ.get("BENCH_PROFILE_PRODUCTS", "50000"))
    RESULTS.mkdir(exist_ok=True)
    kafka = stack.start_stack(f"profile-{os.getpid()}")
    try:
        stack.load(kafka, rows)
        shop = kafka.shop(cpus=SERVER_CPU, snapshots=True, name="profile-shop").start()
        try:
            shop.wait_until("/readyz", 200, stack.READY_TIMEOUT_S)
            for name, load in http_load.loads(kafka, shop, rows).items():
                if names and name not in names:
                    continue
                print(profile_load(shop, load, RESULTS / f"profile-{name}.svg"))
                collapsed = profile_load(shop, load, kafka.folder / f"profile-{name}.txt")
                for share, frame in top_frames(collapsed):
                    print(f"  {share * 100:5.1f}%  {frame}")
        finally:
            shop.stop()
    finally:
        kafka.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
