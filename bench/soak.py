"""`python -m bench.soak` (what `make soak` runs): an hour of mixed load on one shop, its resources
sampled every 10 s, then a verdict (bench/soak_verdict.py) in bench/results/soak.{json,md}.

    python -m bench.soak                   # SOAK_MINUTES=60 by default
    SOAK_MINUTES=3 python -m bench.soak    # a short run, to try the harness

The stack is the benchmark's (bench/stack.py): a broker on free ports in a fresh folder under
data/bench/, SOAK_PRODUCTS products (50,000 by default) and their stock imported with the shop's
importers, a first start that relays them, then the shop (`python -m shop serve`, with snapshots)
under load. Everything goes to 127.0.0.1 only, is bounded in rate and ends by itself:
- browsing: wrk, BROWSE_CONNECTIONS connections that each wait BROWSE_DELAY_MS between requests,
  catalog pages (random sort, page, per_page, sometimes a name prefix) and product details, in
  runs of a minute;
- cart writes and orders: bench/soak_shopper.py, SHOPPERS browser-like clients at
  SHOPPER_REQUESTS_PER_S in total, ordering most carts with If-Match;
- imports every IMPORT_EVERY_S (a third of the run when that is shorter): a products CSV with
  1% of the prices changed (`shop import-products`), then a stock CSV that puts the products the
  shoppers buy back to their first levels (`shop import-stock`).
Every SAMPLE_S, summed over the shop's processes (the server and Granian's worker): resident
memory, open file descriptors and threads; from /metrics the lag of each projection and what each
holds; new ERROR/CRITICAL lines and tracebacks in the shop's log. After the load, the sampling
goes on until every lag is 0 (SETTLE_S at most); then the shop is stopped with SIGTERM and its log
read to the end. The logs are kept in data/bench/soak-logs/. Exit status 1 when the verdict fails.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from bench import data, machine, soak_verdict, stack, wrk
from bench.processes import Server, http_get
from bench.report import RESULTS
from fixtures.host import REPO
from fixtures.mailpit import Mailpit
from fixtures.server import Samples, metric_samples
from shop.contexts import pim_csv

log = logging.getLogger("bench")

SAMPLE_S = 10.0
SETTLE_S = 60.0
BROWSE_CONNECTIONS = 4
BROWSE_DELAY_MS = 40  # per connection: at most 4 x 25 = 100 requests a second
BROWSE_RUN_S = 60
BROWSE_IDS = 2000
SHOPPERS = 4
SHOPPER_REQUESTS_PER_S = 10.0
SHOPPER_PRODUCTS = 1000  # what the shoppers buy: enough stock runs short now and then
IMPORT_EVERY_S = 300.0
IMPORT_MARGIN_S = 40.0  # no import starts this close to the end: the lag has time to settle
IMPORT_TIMEOUT_S = 600.0
PRICE_CHANGE_EVERY = 100  # one product in 100 gets a new price in each products import
KEPT_LOGS = data.DATA / "soak-logs"
BROWSE_SCRIPT = """
-- Browsing: catalog pages (random sort, page and size, now and then a name prefix) and product
-- details, each connection waiting %(delay)d ms between its requests.
local ids = {%(ids)s}
local sorts = {"id", "price", "name"}
local sizes = {10, 20, 50, 100}
local prefixes = {"Lorem", "Dolor", "Magna", "Ut", "Commodo"}
init = function(args)
  math.randomseed(os.time())
end
delay = function()
  return %(delay)d
end
request = function()
  if math.random() < 0.6 then
    local path = string.format("/api/v1/products?sort=%%s&page=%%d&per_page=%%d",
      sorts[math.random(#sorts)], math.random(1, 200), sizes[math.random(#sizes)])
    if math.random() < 0.2 then
      path = path .. "&prefix=" .. prefixes[math.random(#prefixes)]
    end
    return wrk.format("GET", path)
  end
  return wrk.format("GET", "/api/v1/products/" .. ids[math.random(#ids)])
end
"""
# A log line that is an error: the shop's JSON lines by their level (or a traceback in them), and
# any other line (Granian's, Python's own on stderr) by its words.
ERROR_LEVELS = frozenset({"error", "critical"})
ERROR_WORDS = re.compile(r"Traceback \(most recent call last\)|\b(ERROR|CRITICAL|FATAL|PANIC)\b|panicked")
WARNING_WORDS = re.compile(r"\bWARN(ING)?\b")
KEPT_ERROR_LINES = 20


class LogWatch:
    """Reads a log as it grows and counts its error and warning lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.errors = 0
        self.warnings = 0
        self.first_errors: list[str] = []

    def read(self) -> None:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                chunk = stream.read()
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for raw in lines:
            self._line(raw.decode(errors="replace"))

    def _line(self, line: str) -> None:
        level = ""
        entry: Any = None
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
        if isinstance(entry, dict):
            level = str(entry.get("level", "")).lower()
            error = level in ERROR_LEVELS or "exc" in entry
            warning = level == "warning"
        else:
            error = ERROR_WORDS.search(line) is not None
            warning = WARNING_WORDS.search(line) is not None
        if error:
            self.errors += 1
            if len(self.first_errors) < KEPT_ERROR_LINES:
                self.first_errors.append(line[:2000])
        elif warning:
            self.warnings += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "errors": self.errors,
            "warnings": self.warnings,
            "first_errors": self.first_errors,
        }


def lags(metrics: Samples) -> dict[str, int]:
    """The lag of each projection (events it has yet to apply) in a scrape of /metrics."""
    return {
        dict(labels)["context"]: int(value)
        for (name, labels), value in metrics.items()
        if name == "shop_lag_events"
    }


def process_figures(pids: list[int]) -> dict[str, int]:
    """RSS, open file descriptors and threads, summed over `pids` (a process gone meanwhile is left
    out). RSS of several processes counts the pages they share once per process."""
    rss = fds = threads = processes = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            open_fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss += int(fields["VmRSS"].split()[0]) * 1024
        threads += int(fields["Threads"])
        fds += open_fds
        processes += 1
    return {"rss_bytes": rss, "fds": fds, "threads": threads, "processes": processes}


class Browse(threading.Thread):
    """wrk runs of BROWSE_RUN_S (the last one shorter) until `until`."""

    def __init__(self, url: str, script: Path, started: float, until: float) -> None:
        super().__init__(name="soak-browse", daemon=True)
        self.url = url
        self.started = started
        self.script = script
        self.until = until
        self.runs: list[dict[str, Any]] = []
        self.requests = 0
        self.errors = 0
        self.stop = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            seconds = min(BROWSE_RUN_S, int(self.until - time.monotonic()))
            if seconds < 1:
                return
            started = round(time.monotonic() - self.started, 1)
            try:
                result = self._wrk(seconds)
            except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
                self.errors += 1
                self.runs.append({"t_s": started, "seconds": seconds, "failed": repr(exc)[:500]})
                self.stop.wait(1)
                continue
            self.requests += result.requests
            self.errors += result.errors
            self.runs.append(
                {
                    "t_s": started,
                    "seconds": seconds,
                    "requests": result.requests,
                    "requests_per_s": result.requests_per_s,
                    "p50_ms": result.p50_ms,
                    "p99_ms": result.p99_ms,
                    "errors": result.errors,
                }
            )

    def _wrk(self, seconds: int) -> wrk.WrkResult:
        """One wrk run as bench/wrk.py makes it (not pinned), in a process `abort` can end."""
        argv = [wrk.wrk_binary(), "-t1", f"-c{BROWSE_CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
        argv += ["--latency", "-s", str(self.script), self.url]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            output, errors = self.process.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            _kill(self.process)
            raise
        if self.process.returncode != 0:
            raise RuntimeError(f"wrk exited with {self.process.returncode}: {errors.strip()[:300]}")
        return wrk.parse(output)

    def abort(self) -> None:
        self.stop.set()
        _kill(self.process)


class Shoppers:
    """bench/soak_shopper.py in a process of its own; its last report line kept as it comes."""

    def __init__(self, url: str, ids_file: Path, seconds: float, log_path: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "bench.soak_shopper",
            url,
            str(ids_file),
            str(SHOPPER_REQUESTS_PER_S),
            str(SHOPPERS),
            str(seconds),
        ]
        with open(log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                argv, cwd=REPO, stdout=subprocess.PIPE, stderr=log_file, text=True
            )
        self.latest: dict[str, Any] = {}
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "started":
            self.kill()
            raise RuntimeError(f"the shoppers did not start; see {log_path}")
        self.reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: TextIO) -> None:
        for line in stream:
            try:
                self.latest = json.loads(line)
            except ValueError:
                continue

    def wait(self, timeout: float) -> dict[str, Any]:
        try:
            self.process.wait(timeout)
        finally:
            self.kill()
        self.reader.join(10)
        return self.latest

    def kill(self) -> None:
        _kill(self.process)


class Imports(threading.Thread):
    """Every `every` seconds until IMPORT_MARGIN_S before `until`: a products import with some
    prices changed, then a stock import putting the shoppers' products back to their levels."""

    def __init__(self, soak: Soak, shop_url: str, every: float, started: float, until: float) -> None:
        super().__init__(name="soak-imports", daemon=True)
        self.soak = soak
        self.shop_url = shop_url
        self.started = started
        self.every = every
        self.until = until
        self.done: list[dict[str, Any]] = []
        self.failures = 0
        self.stop = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    def run(self) -> None:
        round_ = 1
        while True:
            at = self.started + round_ * self.every
            if at > self.until - IMPORT_MARGIN_S or self.stop.wait(max(0.0, at - time.monotonic())):
                return
            products = self.soak.products_change(round_)
            self._import("import-products", products, round_)
            products.unlink()
            if self.stop.is_set():
                return
            self._import("import-stock", self.soak.stock_correction, round_)
            round_ += 1

    def _import(self, command: str, path: Path, round_: int) -> None:
        argv = [sys.executable, "-m", "shop", command, str(path)]
        began = time.monotonic()
        env = {**os.environ, **self.soak.kafka.config.to_env()}
        with open(self.soak.kafka.logs / "imports.log", "ab") as log_file:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log_file, text=True
            )
        try:
            output, _ = self.process.communicate(timeout=IMPORT_TIMEOUT_S)
            status, output = self.process.returncode, output.strip()
        except subprocess.TimeoutExpired:
            _kill(self.process)
            status, output = -1, f"timed out after {IMPORT_TIMEOUT_S:.0f} s"
        self.failures += status != 0
        seconds = time.monotonic() - began
        entry = {
            "round": round_,
            "command": command,
            "t_s": round(began - self.started, 1),
            "seconds": seconds,
        }
        try:  # the burst as the shop sees it: what it has yet to apply right after the import
            lag_after = lags(metric_samples(http_get(self.shop_url + "/metrics").decode()))
        except (OSError, ValueError):
            lag_after = {}
        self.done.append({**entry, "exit_status": status, "summary": output, "lag_after": lag_after})
        log.info("%s (round %d): %s in %.1f s, exit %d", command, round_, output, seconds, status)

    def abort(self) -> None:
        self.stop.set()
        _kill(self.process)


class Soak:
    def __init__(self, minutes: float, rows: int) -> None:
        self.minutes = minutes
        self.seconds = minutes * 60
        self.rows = rows
        self.samples: list[dict[str, Any]] = []
        self.scrape_failures = 0
        self.browse_ids = data.product_ids(rows, BROWSE_IDS)
        self.shopper_ids = self.browse_ids[:SHOPPER_PRODUCTS]
        self.kafka = stack.start_stack(f"soak-{os.getpid()}")
        # Orders carry details, so the shop emails them: to a Mailpit of the soak's own.
        self.mailpit = Mailpit(self.kafka.folder / "mailpit").start()
        self.kafka.config = replace(self.kafka.config, smtp_port=self.mailpit.smtp_port)
        self.stock_correction = self.kafka.folder / "stock-correction.csv"

    # The data the load uses

    def write_inputs(self) -> tuple[Path, Path]:
        """The wrk script, the shoppers' product ids and the stock correction file."""
        script = self.kafka.folder / "browse.lua"
        ids = ", ".join(f'"{i}"' for i in self.browse_ids)
        script.write_text(BROWSE_SCRIPT % {"ids": ids, "delay": BROWSE_DELAY_MS})
        ids_file = self.kafka.folder / "shopper-ids.txt"
        ids_file.write_text("\n".join(self.shopper_ids) + "\n")
        wanted = set(self.shopper_ids)
        with open(data.stock_csv_for(self.rows), encoding="utf-8") as source:
            levels = [row for row in csv.reader(source) if row and row[0] in wanted]
        with open(self.stock_correction, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(("product_id", "quantity"))
            writer.writerows(levels)
        return script, ids_file

    def products_change(self, round_: int) -> Path:
        """The products file with every PRICE_CHANGE_EVERY-th product (a different slice each round)
        at a new price; the products of the last round's slice are back at their first price."""
        rng = random.Random(round_)
        path = self.kafka.folder / f"products-round-{round_}.csv"
        price = pim_csv.COLUMNS.index("price")
        with (
            open(data.products_csv(self.rows), newline="", encoding="utf-8") as source,
            open(path, "w", newline="", encoding="utf-8") as out,
        ):
            reader, writer = csv.reader(source), csv.writer(out, lineterminator="\n")
            writer.writerow(next(reader))
            for number, row in enumerate(reader):
                if number % PRICE_CHANGE_EVERY == round_ % PRICE_CHANGE_EVERY:
                    row[price] = str(rng.randint(1, 9999))
                writer.writerow(row)
        return path

    # Sampling

    def sample(
        self, shop: Server, log_watch: LogWatch, phase: str, started: float, load: Load | None
    ) -> None:
        figures: dict[str, Any] = {"t_s": round(time.monotonic() - started, 1), "phase": phase}
        figures.update(process_figures(shop.pids()))
        figures["broker_rss_bytes"] = process_figures([self.kafka.broker.pid()])["rss_bytes"]
        try:
            metrics = metric_samples(http_get(shop.url + "/metrics").decode())
        except (OSError, ValueError) as exc:
            self.scrape_failures += 1
            log.warning("/metrics failed: %r", exc)
            metrics = {}
        figures["lag"] = lags(metrics)
        figures["items"] = {
            f"{dict(labels)['context']}/{dict(labels)['kind']}": int(value)
            for (name, labels), value in metrics.items()
            if name == "shop_model_items"
        }
        log_watch.read()
        figures["log_errors"] = log_watch.errors
        figures["log_warnings"] = log_watch.warnings
        if load is not None:
            figures["browse_requests"] = load.browse.requests
            figures["browse_errors"] = load.browse.errors
            figures["shopper"] = {
                key: load.shoppers.latest.get(key) for key in ("orders", "stock_short", "failures")
            }
            figures["imports"] = len(load.imports.done)
        self.samples.append(figures)
        log.info(
            "%5.0f s %-6s rss %.0f MiB, %d fds, %d threads, lag %s, %d errors in the log",
            figures["t_s"],
            phase,
            figures["rss_bytes"] / 2**20,
            figures["fds"],
            figures["threads"],
            figures["lag"],
            log_watch.errors,
        )

    def run(self) -> dict[str, Any]:
        results: dict[str, Any] = {"machine": machine.facts()}
        results["first_start_s"] = stack.load(self.kafka, self.rows)
        script, ids_file = self.write_inputs()
        shop = self.kafka.shop(cpus=None, snapshots=True, name="soak-shop").start()
        log_watch = LogWatch(shop.log_path)
        try:
            shop.wait_until("/readyz", 200, stack.READY_TIMEOUT_S)
            started = time.monotonic()
            self.sample(shop, log_watch, "ready", started, None)
            load = Load(self, shop, script, ids_file, started)
            try:
                alive = self.sample_load(shop, log_watch, started, load)
            except BaseException:
                load.abort()
                raise
            if not alive:
                load.abort()  # nothing to load any more
            results.update(load.finish())
            if alive:
                self.settle(shop, log_watch, started)
            results["shop_alive_under_load"] = alive
        finally:
            shop_process = shop.process
            shop.stop()
            results["shop_exit_status"] = shop_process.returncode if shop_process is not None else None
            log_watch.read()
            results["shop_log"] = log_watch.as_dict()
            results["import_log"] = _read_all(LogWatch(self.kafka.logs / "imports.log")).as_dict()
        results["samples"] = self.samples
        results["metrics_scrape_failures"] = self.scrape_failures
        return results

    def sample_load(self, shop: Server, log_watch: LogWatch, started: float, load: Load) -> bool:
        """Samples until the end of the load; False if the shop exited meanwhile."""
        due = started
        while (due := due + SAMPLE_S) <= started + self.seconds + 1:
            time.sleep(max(0.0, due - time.monotonic()))
            if shop.process is None or shop.process.poll() is not None:
                log.error("the shop exited under load; see %s", shop.log_path)
                return False
            self.sample(shop, log_watch, "load", started, load)
        return True

    def settle(self, shop: Server, log_watch: LogWatch, started: float) -> None:
        """Samples after the load until every projection's lag is 0, SETTLE_S at most."""
        until = time.monotonic() + SETTLE_S
        while True:
            time.sleep(SAMPLE_S)
            self.sample(shop, log_watch, "settle", started, None)
            lag = self.samples[-1]["lag"]
            if (lag and not any(lag.values())) or time.monotonic() >= until:
                return

    def stop(self) -> None:
        """Keeps the logs (data/bench/soak-logs/), then removes the broker and its folder."""
        shutil.rmtree(KEPT_LOGS, ignore_errors=True)
        shutil.copytree(self.kafka.logs, KEPT_LOGS)
        self.mailpit.stop()
        self.kafka.stop()


class Load:
    """The three loads at once, from `started` for the soak's duration."""

    def __init__(self, soak: Soak, shop: Server, script: Path, ids_file: Path, started: float) -> None:
        until = started + soak.seconds
        self.browse = Browse(shop.url + "/", script, started, until)
        every = min(IMPORT_EVERY_S, soak.seconds / 3)
        self.imports = Imports(soak, shop.url, every, started, until)
        self.shoppers = Shoppers(shop.url, ids_file, soak.seconds, soak.kafka.logs / "shoppers.log")
        self.browse.start()
        self.imports.start()

    def abort(self) -> None:
        """Ends every load at once (an error or ^C in the harness)."""
        self.shoppers.kill()
        self.browse.abort()
        self.imports.abort()

    def finish(self) -> dict[str, Any]:
        """Waits for the loads to end (they end by themselves); what each achieved."""
        shopper = self.shoppers.wait(BROWSE_RUN_S + 60)
        self.imports.join(IMPORT_TIMEOUT_S * 2)
        self.browse.join(BROWSE_RUN_S + 60)
        self.imports.stop.set()
        self.browse.stop.set()
        return {
            "browse": {
                "requests": self.browse.requests,
                "errors": self.browse.errors,
                "runs": self.browse.runs,
            },
            "shopper": shopper,
            "imports": {"failures": self.imports.failures, "runs": self.imports.done},
        }


def _kill(process: subprocess.Popen[str] | None) -> None:
    """Ends a process this harness started (by its pid), if it still runs."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(10)


def _read_all(watch: LogWatch) -> LogWatch:
    watch.read()
    return watch


def settings() -> dict[str, Any]:
    minutes = float(os.environ.get("SOAK_MINUTES", "60"))
    return {
        "minutes": minutes,
        "products": int(os.environ.get("SOAK_PRODUCTS", "50000")),
        "sample_s": SAMPLE_S,
        "browse": f"wrk, {BROWSE_CONNECTIONS} connections, {BROWSE_DELAY_MS} ms between requests each",
        "shoppers": f"{SHOPPERS} shoppers, {SHOPPER_REQUESTS_PER_S:g} requests/s in total",
        "imports": f"every {min(IMPORT_EVERY_S, minutes * 20):.0f} s: "
        f"1/{PRICE_CHANGE_EVERY} of the prices, then the stock of {SHOPPER_PRODUCTS} products",
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    chosen = settings()
    began = time.monotonic()
    log.info("soak: %g minutes, %d products", chosen["minutes"], chosen["products"])
    data.stock_csv_for(chosen["products"])  # and the products, generated or reused
    soak = Soak(chosen["minutes"], chosen["products"])
    try:
        results = soak.run()
    finally:
        soak.stop()
    results["settings"] = chosen
    results["machine"]["load average at end"] = machine.load_average()
    results["duration_s"] = time.monotonic() - began
    results["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["verdict"] = soak_verdict.judge(results)
    paths = soak_verdict.write(results, RESULTS)
    print("\n".join(str(p) for p in paths))
    print(f"soak verdict: {'pass' if results['verdict']['ok'] else 'FAIL'}")
    if not results["verdict"]["ok"]:
        for failure in results["verdict"]["failures"]:
            print(f"  {failure}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
