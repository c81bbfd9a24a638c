"""The soak's verdict and its report: bench/results/soak.json (every sample) and soak.md.

"None grows without bound", judged on the samples under load after a warm-up (the first quarter
of the run): for RSS, open file descriptors and threads, the median of the last quarter against
the median of the second quarter, with the tolerance of TOLERANCES (a share of the second
quarter's median or an absolute amount, whichever is larger), and the least-squares slope per hour
over the same samples. A series grows when the medians differ by more than the tolerance and the
slope is positive. The lag of each projection has to come back to LAG_SETTLED events or fewer
between two import bursts (the lowest sample in each stretch between them) and to 0 once the load
stops. Any ERROR/CRITICAL line or traceback in the shop's or the importers' log, any failed
request of the load, failed import, failed /metrics scrape or unclean stop fails the soak.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

# Per series: (share of the second quarter's median, absolute amount); the larger is the tolerance.
TOLERANCES: dict[str, tuple[float, float]] = {
    "rss_bytes": (0.10, 32 * 2**20),
    "fds": (0.10, 8),
    "threads": (0.10, 4),
}
SERIES_NAMES = {"rss_bytes": "RSS (MiB)", "fds": "open file descriptors", "threads": "threads"}
LAG_SETTLED = 10
MIN_QUARTER_SAMPLES = 3
FULL_MINUTES = 60


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 3600


def trend(samples: list[dict[str, Any]], key: str, seconds: float) -> dict[str, Any]:
    load = [(float(s["t_s"]), float(s[key])) for s in samples if s["phase"] == "load"]
    quarter = seconds / 4
    values = [float(s[key]) for s in samples]
    quarters = [[v for t, v in load if n * quarter <= t < (n + 1) * quarter] for n in range(3)]
    quarters.append([v for t, v in load if t >= 3 * quarter])  # the last sample, at the end, too
    second, last = quarters[1], quarters[3]
    figures: dict[str, Any] = {
        "medians_by_quarter": [statistics.median(q) if q else None for q in quarters],
        "ready": values[0] if values else None,
        "end_of_load": load[-1][1] if load else None,
        "max": max(values) if values else None,
        "samples_second_quarter": len(second),
        "samples_last_quarter": len(last),
        "slope_per_hour": slope_per_hour([(t, v) for t, v in load if t >= quarter]),
    }
    if len(second) < MIN_QUARTER_SAMPLES or len(last) < MIN_QUARTER_SAMPLES:
        figures.update(
            ok=False, why=f"fewer than {MIN_QUARTER_SAMPLES} samples in a quarter: too short to judge"
        )
        return figures
    share, amount = TOLERANCES[key]
    median_second, median_last = statistics.median(second), statistics.median(last)
    tolerance = max(share * median_second, amount)
    growth = median_last - median_second
    grows = growth > tolerance and figures["slope_per_hour"] > 0
    unit, scale = (" MiB", 2**20) if key == "rss_bytes" else ("", 1.0)
    figures.update(
        median_second_quarter=median_second,
        median_last_quarter=median_last,
        growth=growth,
        tolerance=tolerance,
        ok=not grows,
        why=f"the median of the last quarter is {growth / scale:.1f}{unit} above the second's (tolerance "
        f"{tolerance / scale:.1f}{unit}), slope {figures['slope_per_hour'] / scale:.1f}{unit} per hour"
        if grows
        else "",
    )
    return figures


def lag_checks(samples: list[dict[str, Any]], bursts: list[float]) -> dict[str, dict[str, Any]]:
    """Per projection: its highest lag, its lowest in each stretch between import bursts (starting
    at `bursts`, seconds into the load) and its lag at the last sample (after the load)."""
    load = [s for s in samples if s["phase"] == "load"]
    names = sorted({name for s in samples for name in s["lag"]})
    bounds = [0.0, *sorted(bursts), float("inf")]
    checks = {}
    for name in names:
        lowest = []
        for start, end in itertools.pairwise(bounds):
            stretch = [s["lag"][name] for s in load if start <= s["t_s"] < end and name in s["lag"]]
            if stretch:
                lowest.append(min(stretch))
        final = samples[-1]["lag"].get(name) if samples else None
        settled = all(value <= LAG_SETTLED for value in lowest)
        checks[name] = {
            "max": max((s["lag"].get(name, 0) for s in samples), default=0),
            "lowest_between_bursts": lowest,
            "after_load": final,
            "ok": bool(lowest) and settled and final == 0,
        }
    return checks


def judge(results: dict[str, Any]) -> dict[str, Any]:
    samples = results.get("samples", [])
    seconds = float(results["settings"]["minutes"]) * 60
    checks: dict[str, dict[str, Any]] = {}
    for key in TOLERANCES:
        checks[key] = trend(samples, key, seconds)
    imports = results.get("imports", {}).get("runs", [])
    bursts = [float(run["t_s"]) for run in imports if run["command"] == "import-products"]
    for name, check in lag_checks(samples, bursts).items():
        checks[f"lag {name}"] = check
    if not any(key.startswith("lag ") for key in checks):
        checks["lag"] = {"ok": False, "why": "no lag was reported by /metrics"}
    shop_log, import_log = results.get("shop_log", {}), results.get("import_log", {})
    browse, shopper = results.get("browse", {}), results.get("shopper", {})
    counts = {
        "errors in the shop's log": shop_log.get("errors", 0),
        "errors in the importers' log": import_log.get("errors", 0),
        "failed browse requests (wrk)": browse.get("errors", 0),
        "unexpected shopper answers": shopper.get("failures", 0),
        "failed imports": results.get("imports", {}).get("failures", 0),
        "failed /metrics scrapes": results.get("metrics_scrape_failures", 0),
    }
    for name, count in counts.items():
        checks[name] = {"count": count, "ok": count == 0}
    checks["shop alive under load, stopped cleanly"] = {
        "alive": results.get("shop_alive_under_load"),
        "exit_status": results.get("shop_exit_status"),
        "ok": results.get("shop_alive_under_load") is True and results.get("shop_exit_status") == 0,
    }
    products = sum(1 for run in imports if run["command"] == "import-products")
    ran = {
        "browse_requests": browse.get("requests", 0),
        "orders": shopper.get("orders", 0),
        "shopper_done": shopper.get("done", False),
        "product_imports": products,
        "stock_imports": len(imports) - products,
    }
    checks["every load ran"] = {**ran, "ok": all(ran.values())}
    failures = [
        f"{SERIES_NAMES.get(name, name)}: {check.get('why') or check}"
        for name, check in checks.items()
        if not check["ok"]
    ]
    return {"ok": not failures, "checks": checks, "failures": failures}


def write(results: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "soak.json", folder / "soak.md"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(markdown(results))
    return [json_path, md_path]


def _number(value: Any, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    scaled = float(value) / scale
    return f"{scaled:,.0f}" if abs(scaled) >= 100 or scaled == int(scaled) else f"{scaled:,.1f}"


def markdown(results: dict[str, Any]) -> str:
    verdict = results["verdict"]
    minutes = float(results["settings"]["minutes"])
    checks = verdict["checks"]
    lines = [f"# Soak: {minutes:g} minutes of mixed load: {'pass' if verdict['ok'] else 'FAIL'}", ""]
    if minutes < FULL_MINUTES:
        lines += [
            f"**A {minutes:g}-minute validation run of the harness, not the hour of issue #27** "
            f"(`make soak` runs {FULL_MINUTES} minutes). Its quarters are {minutes * 15:g} s long: "
            "it shows the harness works, not that nothing grows over an hour, and a warm-up longer "
            "than its first quarter (caches filling) counts as growth.",
            "",
        ]
    machine, settings = results["machine"], results["settings"]
    lines += [
        f"Finished {results['finished_at']}, {results['duration_s'] / 60:.1f} min in all (the first "
        f"start, relaying the imported data, took {results['first_start_s']:.1f} s). "
        f"{machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory']}; load average {machine['load average at start']} at the start, "
        f"{machine['load average at end']} at the end (other work shared the machine). "
        f"{settings['products']:,} products; a sample every {settings['sample_s']:g} s.",
        "",
        "## Load",
        "",
        *_load_lines(results),
        "",
        "## Resources of the shop (its processes summed)",
        "",
        "Trend over the samples under load after the first quarter (warm-up): median of the last "
        "quarter against the median of the second; a series grows when the difference exceeds the "
        "tolerance and the slope is positive.",
        "",
        "| series | ready | end of load | max | medians Q1, Q2, Q3, Q4 | growth Q2 to Q4 | tolerance "
        "| slope per hour | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, name in SERIES_NAMES.items():
        check = checks[key]
        scale = 2**20 if key == "rss_bytes" else 1.0
        cells = [_number(check.get(field), scale) for field in ("ready", "end_of_load", "max")]
        cells.append(", ".join(_number(m, scale) for m in check.get("medians_by_quarter", [])))
        cells += [_number(check.get(field), scale) for field in ("growth", "tolerance", "slope_per_hour")]
        lines.append(f"| {name} | {' | '.join(cells)} | {'ok' if check['ok'] else 'FAIL'} |")
    lines += [
        "",
        "## Lag per projection (events)",
        "",
        f"Lowest lag in each stretch between import bursts (at most {LAG_SETTLED}), and after the load (0).",
        "",
        "| projection | max | lowest between bursts | after the load | |",
        "|---|---|---|---|---|",
    ]
    for key, check in checks.items():
        if key.startswith("lag "):
            lowest = ", ".join(str(v) for v in check.get("lowest_between_bursts", []))
            status = "ok" if check["ok"] else "FAIL"
            lines.append(
                f"| {key[4:]} | {check.get('max')} | {lowest} | {check.get('after_load')} | {status} |"
            )
    lines += ["", "## Errors", "", "| what | count | |", "|---|---|---|"]
    for key, check in checks.items():
        if "count" in check:
            lines.append(f"| {key} | {check['count']} | {'ok' if check['ok'] else 'FAIL'} |")
    stop = checks["shop alive under load, stopped cleanly"]
    lines.append(
        f"| shop alive under load, exit status after SIGTERM | {stop['alive']}, {stop['exit_status']} "
        f"| {'ok' if stop['ok'] else 'FAIL'} |"
    )
    lines.append(f"| warnings in the shop's log (not judged) | {results['shop_log']['warnings']} | |")
    for line in results["shop_log"]["first_errors"][:5]:
        lines += ["", f"    {line[:300]}"]
    lines += ["", "## What the shop holds (grows with the carts and orders: data, not a leak)", ""]
    lines += _items_lines(results["samples"])
    lines += ["", "## Verdict", ""]
    if verdict["ok"]:
        lines.append("Pass: no series grew beyond its tolerance, every lag settled, no error.")
    else:
        lines += [f"- {failure}" for failure in verdict["failures"]]
    lines += [
        "",
        "## How to repeat",
        "",
        "`make soak` (an hour; `SOAK_MINUTES=3 make soak` for a short run, `SOAK_PRODUCTS` for another "
        "catalog size), or `.venv/bin/python -m bench.soak` on a built checkout. It starts its own "
        "broker on free ports and stops everything it started; exit status 1 when the verdict fails. "
        "Every sample is in soak.json; the logs of the last run stay in data/bench/soak-logs/. How "
        "the verdict is made: bench/soak_verdict.py.",
        "",
    ]
    return "\n".join(lines)


def _load_lines(results: dict[str, Any]) -> list[str]:
    settings, browse, shopper = results["settings"], results.get("browse", {}), results.get("shopper", {})
    runs = [run for run in browse.get("runs", []) if "requests" in run]
    seconds = sum(run["seconds"] for run in runs) or 1
    p99 = max((run["p99_ms"] for run in runs), default=None)
    requests = shopper.get("requests", {})
    imports = results.get("imports", {}).get("runs", [])
    slowest = max((run["seconds"] for run in imports), default=0.0)
    burst: dict[str, int] = {}
    for run in imports:
        for name, lag in run.get("lag_after", {}).items():
            burst[name] = max(burst.get(name, 0), lag)
    burst_text = ", ".join(f"{name} {lag:,}" for name, lag in sorted(burst.items())) or "-"
    lines = [
        "| load | how | achieved |",
        "|---|---|---|",
        f"| browse | {settings['browse']} | {browse.get('requests', 0):,} requests "
        f"({browse.get('requests', 0) / seconds:.0f}/s), highest p99 of a run {_number(p99)} ms, "
        f"{browse.get('errors', 0)} errors |",
        f"| carts and orders | {settings['shoppers']} | {sum(requests.values()):,} requests, "
        f"{shopper.get('orders', 0):,} orders, {shopper.get('stock_short', 0)} refused for stock (expected), "
        f"{shopper.get('abandoned', 0)} carts abandoned, {shopper.get('failures', 0)} unexpected answers |",
        f"| imports | {settings['imports']} | {len(imports)} imports, the slowest {slowest:.1f} s, "
        f"{results.get('imports', {}).get('failures', 0)} failed; the highest lag right after one: "
        f"{burst_text} |",
    ]
    return lines


def _items_lines(samples: list[dict[str, Any]]) -> list[str]:
    if not samples:
        return ["no samples"]
    first, last = samples[0]["items"], samples[-1]["items"]
    lines = ["| projection/kind | ready | end |", "|---|---|---|"]
    for key in sorted(set(first) | set(last)):
        lines.append(f"| {key} | {first.get(key, 0):,} | {last.get(key, 0):,} |")
    return lines
