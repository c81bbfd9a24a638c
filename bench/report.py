"""latest.json (the figures of issue #6, each a number, or null when it could not be measured) and
latest.md (the machine, every figure with its runs, the targets, and where the time goes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    met: Callable[[float], bool]


READS_UNDER_WRITES_RATIO = 0.7

TARGETS = [
    Target("catalog_read_ratio", "≥ 0.8", lambda v: v >= 0.8),
    Target("catalog_read_p99_ms", "≤ 10 ms", lambda v: v <= 10),
    Target(
        "catalog_read_under_writes_ratio",
        f"≥ {READS_UNDER_WRITES_RATIO}",
        lambda v: v >= READS_UNDER_WRITES_RATIO,
    ),
    Target("catalog_read_under_writes_p99_ms", "≤ 15 ms", lambda v: v <= 15),
    Target("rust_vs_python_page_speedup", "≥ 100 x", lambda v: v >= 100),
    Target("rust_apply_events_per_s", "≥ 500,000 events/s", lambda v: v >= 500_000),
    Target("startup_vs_raw_consume_ratio", "≤ 1.25", lambda v: v <= 1.25),
    Target("snapshot_startup_1m_s", "≤ 3 s", lambda v: v <= 3),
    Target("cart_write_p50_ms", "≤ 3 ms", lambda v: v <= 3),
    Target("cart_write_p99_ms", "≤ 10 ms", lambda v: v <= 10),
    Target("cart_writes_per_s", "≥ 5,000 writes/s", lambda v: v >= 5000),
    Target("rss_vs_payload_ratio", "≤ 1.5", lambda v: v <= 1.5),
    # Issue #26: what shoppers do, and the whole process.
    Target("browse_ratio", "≥ 0.8", lambda v: v >= 0.8),
    Target("browse_p99_ms", "≤ 10 ms", lambda v: v <= 10),
    Target("uncached_page_ratio", "≥ 0.7", lambda v: v >= 0.7),
    Target("uncached_page_p99_ms", "≤ 10 ms", lambda v: v <= 10),
    Target("browse_under_writes_ratio", "≥ 0.7", lambda v: v >= 0.7),
    Target("browse_under_writes_p99_ms", "≤ 15 ms", lambda v: v <= 15),
    Target("process_rss_vs_payload_ratio", "≤ 2.0", lambda v: v <= 2.0),
    Target("process_rss_after_browse_vs_payload_ratio", "≤ 2.0", lambda v: v <= 2.0),
    Target("propagation_p99_ms", "≤ 100 ms", lambda v: v <= 100),
    Target("first_start_vs_raw_consume_ratio", "≤ 2.0", lambda v: v <= 2.0),
    # Issue #29: content.
    Target("content_read_ratio", "≥ 0.8", lambda v: v >= 0.8),
    Target("content_import_to_visible_p99_s", "≤ 1 s", lambda v: v <= 1),
    # Issue #31: search (bench/search.py: the model in-process, at `search_products` products).
    Target("suggest_p99_ms", "≤ 5 ms", lambda v: v <= 5),
    Target("search_p99_ms", "≤ 25 ms", lambda v: v <= 25),
    Target("search_per_s", "≥ 1,000 searches/s", lambda v: v >= 1000),
    Target("search_index_1m_s", "≤ 30 s", lambda v: v <= 30),
    Target("search_visible_p99_ms", "≤ 1,000 ms", lambda v: v <= 1000),
    Target("search_index_rss_vs_payload_ratio", "≤ 1.5", lambda v: v <= 1.5),
    Target("search_snapshot_start_1m_s", "≤ 3 s", lambda v: v <= 3),
]


def _median(figure: Any, *path: str) -> float | None:
    for name in path:
        if not isinstance(figure, dict) or name not in figure:
            return None
        figure = figure[name]
    return float(figure["median"]) if isinstance(figure, dict) else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def keys(results: dict[str, Any]) -> dict[str, float | None]:
    """The figures of issue #6 from the measurements."""
    http, startup, memory = results.get("http", {}), results.get("startup", {}), results.get("memory")
    content = results.get("content", {})
    floor = _median(http, "floor", "requests_per_s")
    pages = results.get("pages", {})
    speedups = [q["speedup"] for q in pages.get("queries", {}).values()]
    apply = _median(pages, "apply_seconds_per_event")
    per_product = {}
    if memory:
        per_product = {
            "rss": (memory["rss_loaded"] - memory["rss_empty"]) / memory["products"],
            "payload": memory["payload"] / memory["products"],
        }
    return {
        "catalog_read_rps": _median(http, "reads", "requests_per_s"),
        "catalog_read_floor_rps": floor,
        "catalog_read_ratio": _median(http, "read_ratio"),
        "catalog_read_p99_ms": _median(http, "reads", "p99_ms"),
        "catalog_read_under_writes_ratio": _ratio(
            _median(http, "reads_under_writes", "requests_per_s"), floor
        ),
        "catalog_read_under_writes_p99_ms": _median(http, "reads_under_writes", "p99_ms"),
        "rust_vs_python_page_speedup": min(speedups) if speedups else None,
        "rust_apply_events_per_s": 1 / apply if apply else None,
        "startup_1m_s": _median(startup, "shop_s"),
        "raw_consume_1m_s": _median(startup, "raw_s"),
        "startup_vs_raw_consume_ratio": _median(startup, "ratio"),
        "snapshot_startup_1m_s": _median(results, "snapshot_startup_s"),
        "snapshot_startup_not_cached_1m_s": _median(results, "snapshot_startup_not_cached_s"),
        "cart_write_p50_ms": _median(http, "cart_writes_c1", "p50_ms"),
        "cart_write_p99_ms": _median(http, "cart_writes_c1", "p99_ms"),
        "cart_writes_per_s": _median(http, "cart_writes_c64", "requests_per_s"),
        "rss_bytes_per_product": per_product.get("rss"),
        "payload_bytes_per_product": per_product.get("payload"),
        "rss_vs_payload_ratio": _ratio(per_product.get("rss"), per_product.get("payload")),
        "content_read_rps": _median(content, "reads", "requests_per_s"),
        "content_read_ratio": _median(content, "read_ratio"),
        "content_read_p99_ms": _median(content, "reads", "p99_ms"),
        "content_import_to_visible_p99_s": content.get("import_to_visible_s", {}).get("p99"),
        **browse_keys(results),
        **search_keys(results),
    }


def search_keys(results: dict[str, Any]) -> dict[str, float | None]:
    """The figures of issue #31: over HTTP at 16 connections where `search-http` ran (bench/
    search_http.py), else the model's in process (bench/search.py, at `search_products` products;
    the keys say 1m: the issue's size; a smaller run says its own size beside them)."""
    found, http = results.get("search"), results.get("search_http")
    keys: dict[str, float | None] = dict.fromkeys(SEARCH_KEYS)
    if found:
        keys |= {
            "search_products": float(found["products"]),
            "suggest_p99_ms": found["suggest_ms"]["p99"],
            "search_p99_ms": found["search_ms"]["p99"],
            "search_per_s": found["searches_per_s"],
            "search_index_1m_s": found["index_s"],
            # The projection's apply of one 100 ms batch at 2,000 updates/s: the visibility delay
            # the index adds; the Kafka path before it (bridge, consumer) is not in it.
            "search_visible_p99_ms": found["change_batch_apply_ms"]["p99"],
            "search_index_rss_vs_payload_ratio": _ratio(
                found["rss_loaded"] - found["rss_empty"], found["payload"]
            ),
            "search_snapshot_start_1m_s": found["snapshot_load_s"],
        }
    if http:
        keys |= {
            "suggest_p99_ms": _median(http, "suggest", "p99_ms"),
            "search_p99_ms": _median(http, "search", "p99_ms"),
            "search_per_s": _median(http, "search", "requests_per_s"),
            "suggest_per_s": _median(http, "suggest", "requests_per_s"),
            # From producing a change to pim_internal to a search finding it, through Kafka.
            "search_visible_p99_ms": http["visible_ms"]["p99"],
        }
    return keys


SEARCH_KEYS = (
    "search_products",
    "suggest_p99_ms",
    "suggest_per_s",
    "search_p99_ms",
    "search_per_s",
    "search_index_1m_s",
    "search_visible_p99_ms",
    "search_index_rss_vs_payload_ratio",
    "search_snapshot_start_1m_s",
)


def browse_keys(results: dict[str, Any]) -> dict[str, float | None]:
    """The figures of issue #26: browsing as shoppers do, the whole process's memory, propagation
    and the first start."""
    http, imported = results.get("http", {}), results.get("imported", {})
    rows = results.get("settings", {}).get("products")
    rss, payload = http.get("process_rss", {}), imported.get("payload_bytes")
    grown = {k: rss[k] - rss["empty"] for k in ("loaded", "after_browse") if k in rss and "empty" in rss}
    browse_floor = _median(http, "browse_floor", "requests_per_s")
    propagation = http.get("propagation_ms") or {}
    at_rest = http.get("at_rest") or {}
    floor = results.get("first_start_floor") or {}
    return {
        "browse_rps": _median(http, "browse", "requests_per_s"),
        "browse_floor_rps": browse_floor,
        "browse_ratio": _median(http, "browse_ratio"),
        "browse_p99_ms": _median(http, "browse", "p99_ms"),
        "uncached_page_ratio": _median(http, "uncached_ratio"),
        "uncached_page_p99_ms": _median(http, "uncached", "p99_ms"),
        "browse_under_writes_ratio": _ratio(
            _median(http, "browse_under_writes", "requests_per_s"), browse_floor
        ),
        "browse_under_writes_p99_ms": _median(http, "browse_under_writes", "p99_ms"),
        "process_rss_bytes_per_product": _ratio(grown.get("loaded"), rows),
        "process_rss_vs_payload_ratio": _ratio(grown.get("loaded"), payload),
        "process_rss_after_browse_vs_payload_ratio": _ratio(grown.get("after_browse"), payload),
        "propagation_p99_ms": propagation.get("p99_ms"),
        "at_rest_server_cpu_share": at_rest.get("cpu"),
        "at_rest_thread_switches_per_s": sum(at_rest["switches"].values()) if at_rest else None,
        "first_start_1m_s": imported.get("first_start_s"),
        "first_start_vs_raw_consume_ratio": _ratio(
            imported.get("first_start_s"), imported.get("raw_consume_s")
        ),
        "first_start_floor_s": floor.get("first_start_floor_s"),
        "first_start_vs_floor_ratio": _ratio(imported.get("first_start_s"), floor.get("first_start_floor_s")),
    }


# Snapshots that load once another has (shop/service.py): checkout's products are the catalog's.
LOADS_AFTER = {"checkout_internal": "catalog_internal"}


def write(results: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """<folder>/latest.json and latest.md; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = keys(results)
    json_path, md_path = folder / "latest.json", folder / "latest.md"
    json_path.write_text(json.dumps({**figures, "details": results}, indent=2) + "\n")
    md_path.write_text(markdown(figures, results))
    return json_path, md_path


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "not measured"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _runs(figure: dict[str, Any], unit: str = "", digits: int = 2) -> str:
    runs = ", ".join(_number(v, digits) for v in figure["runs"])
    return f"{_number(figure['median'], digits)}{unit} (runs: {runs})"


def markdown(figures: dict[str, float | None], results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` ({'quick mode, ' if settings['quick'] else ''}{settings['products']:,} products), "
        f"{results['finished_at']}, {results['duration_s'] / 60:.1f} minutes. Every figure is the median of "
        "its runs; the runs are listed beside it (their spread shows how steady the machine was).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in results["machine"].items()),
        "",
        "## Targets",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
    ]
    for target in TARGETS:
        value = figures[target.key]
        verdict = "missing" if value is None else ("pass" if target.met(value) else "**miss**")
        lines.append(f"| `{target.key}` | {target.text} | {_number(value)} | {verdict} |")
    lines += ["", "## What limits them", "", *_limits(figures, results), ""]
    lines += ["## Figures", "", *_sections(results), ""]
    lines += ["## latest.json", "", "```json", json.dumps(figures, indent=2), "```", ""]
    return "\n".join(lines)


def _limits(figures: dict[str, float | None], results: dict[str, Any]) -> list[str]:
    """Plain arithmetic on the figures that says where the time went (see the py-spy tables)."""
    return [
        *_http_limits(figures, results.get("http", {})),
        *_startup_limits(figures, results),
        *_first_start_limits(figures, results),
        *_snapshot_limits(figures, results),
        *_memory_limits(figures),
    ]


def _http_limits(figures: dict[str, float | None], http: dict[str, Any]) -> list[str]:
    """What each HTTP figure cost the server per request, and which core was the limit."""
    cpu = http.get("cpu", {})

    def share(load: str, process: str) -> float:
        return _median(cpu, load, process) or 0.0

    lines = []
    floor, reads = figures["catalog_read_floor_rps"], figures["catalog_read_rps"]
    if floor and reads and "reads" in cpu:
        lines.append(
            f"- Reads: the server used {share('reads', 'server'):.0%} of its core for {reads:,.0f} req/s "
            f"({share('reads', 'server') * 1e6 / reads:.0f} µs of CPU per request, the floor app "
            f"{share('floor', 'server') * 1e6 / floor:.0f} µs for the same bytes); wrk used "
            f"{share('reads', 'wrk'):.0%} of core 1. {_limit('reads', share)}"
        )
    under = _median(http, "reads_under_writes", "requests_per_s")
    if reads and under and "reads_under_writes" in cpu:
        load = share("reads_under_writes", "broker") + share("reads_under_writes", "wrk")
        load += share("reads_under_writes", "driver")
        lines.append(
            f"- Under writes reads fall to {under / reads:.0%} of the read-only rate. Core 0: the server "
            f"{share('reads_under_writes', 'server'):.0%} busy (reads, the cart writes, the relays of each "
            "catalog update pim_internal → pim_pub → catalog_internal and checkout_internal, the "
            f"projections). Core 1: the broker {share('reads_under_writes', 'broker'):.0%}, wrk "
            f"{share('reads_under_writes', 'wrk'):.0%} and the write driver "
            f"{share('reads_under_writes', 'driver'):.0%}, {load:.0%} of one core asked for. "
            f"{_limit('reads_under_writes', share)}"
        )
    if reads and floor and "writes_alone" in cpu and "reads" in cpu:
        lines.append(_writes_budget(share("writes_alone", "server"), share("reads", "server") / reads, floor))
    if http.get("write_threads"):
        budget = None
        if reads and floor and "reads" in cpu:
            budget = _writes_allowed(share("reads", "server") / reads, floor)
        lines.append(_write_threads(http["write_threads"], budget))
    # The share of the read rate the writes may take away: _writes_allowed with each read 1/reads.
    lines += _write_parts(http, budget=_writes_allowed(1 / reads, floor) if floor and reads else None)
    writes = figures["cart_writes_per_s"]
    if writes and "cart_writes_c64" in cpu:
        lines.append(
            f"- Cart writes at 64 connections: {share('cart_writes_c64', 'server') * 1e6 / writes:.0f} µs of "
            "server CPU per write (HTTP, produce, the delivery report, applying the command, encoding the "
            f"cart); core 0 was {share('cart_writes_c64', 'server'):.0%} busy, the broker used "
            f"{share('cart_writes_c64', 'broker'):.0%} and wrk {share('cart_writes_c64', 'wrk'):.0%} "
            f"of core 1. {_limit('cart_writes_c64', share)}"
        )
    return lines


def _writes_budget(writes: float, read_seconds: float, floor: float) -> str:
    """What is left of the server's core for reads once the writes took theirs."""
    left = max(0.0, 1 - writes) / read_seconds
    return (
        f"- The writes alone (the same driver, no reads) took {writes:.0%} of the server's core. At the "
        f"read-only cost of {read_seconds * 1e6:.0f} µs per page the rest of the core serves at most "
        f"{left:,.0f} pages/s, {left / floor:.2f} of the floor: a ratio of {READS_UNDER_WRITES_RATIO} needs "
        f"the writes to take at most {_writes_allowed(read_seconds, floor):.0%} of the core (or the pages to "
        "cost less)."
    )


def _writes_allowed(read_seconds: float, floor: float) -> float:
    """The share of the server's core the writes may take if the reads under writes, at
    `read_seconds` of CPU each, are to reach READS_UNDER_WRITES_RATIO of the `floor`."""
    return max(0.0, 1 - READS_UNDER_WRITES_RATIO * floor * read_seconds)


def _write_threads(shares: dict[str, float], budget: float | None) -> str:
    """Where the writes' share of the server's core went, thread group by thread group, and what
    that leaves the Python threads if the writes are to fit `budget`."""
    ranked = sorted(shares.items(), key=lambda item: -item[1])
    parts = ", ".join(f"{group} {share:.1%}" for group, share in ranked if share >= 0.0005)
    python = sum(share for group, share in shares.items() if "Python" in group)
    others = sum(shares.values()) - python
    line = (
        f"- The writes alone, per thread of the server: {parts}. Threads running Python took {python:.1%} "
        f"of the core, the others {others:.1%}."
    )
    if budget is not None:
        line += (
            f" Within the {budget:.0%} the ratio allows, the threads running Python would have "
            f"{max(0.0, budget - others):.1%} left for what now takes them {python:.1%}."
        )
    return line


def _write_parts(http: dict[str, Any], budget: float | None) -> list[str]:
    """What each part of the write load, run alone beside the reads, cost them: the reads it took
    away, as µs of the server's core per cart request or catalog update, and in which threads the
    cart write's way through Kafka (cart writes minus cart reads) spent its time."""
    parts, reads = http.get("write_parts", {}), _median(http, "reads", "requests_per_s")
    server = _median(http.get("cpu", {}), "reads", "server")
    if not reads or not server or any(_median(http, name, "requests_per_s") is None for name in parts):
        return []

    def lost(name: str) -> float:
        return 1 - (_median(http, name, "requests_per_s") or 0.0) / reads

    def per_event(name: str) -> float:
        """µs of the server's core per cart request or catalog update of this part."""
        rate = float(parts[name]["cart_per_s"] or parts[name]["catalog_per_s"])
        return lost(name) * server * 1e6 / rate

    http_only, writes, catalog = (
        "reads_under_cart_reads",
        "reads_under_cart_writes",
        "reads_under_catalog_updates",
    )
    kafka = per_event(writes) - per_event(http_only)
    line = (
        f"- Each part of the write load alone beside the reads: {parts[http_only]['cart_per_s']:,.0f} cart "
        "reads/s (`GET /api/v1/cart` on the driver's connections: HTTP and the handler, no Kafka) took "
        f"{lost(http_only):.1%} of the reads, {per_event(http_only):.0f} µs of the server's core each; "
        f"{parts[writes]['cart_per_s']:,.0f} cart writes/s took {lost(writes):.1%}, "
        f"{per_event(writes):.0f} µs each, so a write's way through Kafka (produce, acknowledgement, "
        f"consume, apply, answer) costs {kafka:.0f} µs; {parts[catalog]['catalog_per_s']:,.0f} catalog "
        f"updates/s took {lost(catalog):.1%}, "
        f"{per_event(catalog):.0f} µs each (three relays, two projections)."
    )
    under = _median(http, "reads_under_writes", "requests_per_s")
    if under:
        line += f" All together took {1 - under / reads:.1%}."
    if budget is not None:
        line += f" A ratio of {READS_UNDER_WRITES_RATIO} allows {budget:.1%}."
    lines = [line]
    threads = http.get("threads", {})
    if all(name in threads for name in ("reads", http_only, writes, catalog)):
        kafka_path = _ranked(
            _per_thread(threads, http, reads, writes, parts[writes]["cart_per_s"], http_only), 1e6, 0
        )
        update = _ranked(_per_thread(threads, http, reads, catalog, parts[catalog]["catalog_per_s"]), 1e6, 0)
        lines.append(
            "- Per thread group of the server, in µs of the core: a cart write's way through Kafka "
            f"(cart writes less cart reads) {kafka_path}; a catalog update {update}."
        )
    switches = http.get("switches", {})
    if all(name in switches for name in ("reads", http_only, writes, catalog)):
        per_write = _per_thread(switches, http, reads, writes, parts[writes]["cart_per_s"], http_only)
        per_update = _per_thread(switches, http, reads, catalog, parts[catalog]["catalog_per_s"])
        lines.append(
            "- Thread switches on the server's core, each a context switch of its one core: a cart "
            f"write's way through Kafka {sum(per_write.values()):.1f} ({_ranked(per_write, 1, 1)}); "
            f"a catalog update {sum(per_update.values()):.1f} ({_ranked(per_update, 1, 1)}). "
            "Each Kafka round trip wakes a client thread, and each wakeup takes the core from the "
            "threads serving reads."
        )
    return lines


def _per_thread(
    threads: dict[str, dict[str, float]],
    http: dict[str, Any],
    reads: float,
    load: str,
    rate: float,
    minus: str | None = None,
) -> dict[str, float]:
    """Per thread group, what one event of `load` (at `rate` events/s) cost: what each group used
    per second (CPU seconds, or switches) beyond the reads it served (at its read-only cost per
    read), less what it used so in the load `minus`, divided by `rate`."""

    def beyond_reads(name: str, group: str) -> float:
        served = _median(http, name, "requests_per_s") or 0.0
        return threads[name].get(group, 0.0) - served * threads["reads"].get(group, 0.0) / reads

    groups = set(threads[load]) | (set(threads[minus]) if minus else set())
    return {
        group: (beyond_reads(load, group) - (beyond_reads(minus, group) if minus else 0.0)) / rate
        for group in groups
    }


def _ranked(costs: dict[str, float], scale: float, digits: int) -> str:
    """The groups by cost, largest first, each `cost * scale` rounded to `digits`; the ones that
    round to nothing left out."""
    ranked = sorted(costs.items(), key=lambda item: -item[1])
    return ", ".join(
        f"{group} {cost * scale:.{digits}f}" for group, cost in ranked if round(cost * scale, digits) != 0
    )


def _limit(load: str, share: Callable[[str, str], float]) -> str:
    """Which core ran out first, from the shares of the processes pinned to each."""
    server = share(load, "server")
    other = sum(share(load, process) for process in ("broker", "wrk", "driver"))
    if other >= 0.9 and other > server:
        return "Core 1 (the load and the broker) was the limit: the server's core had time to spare."
    if server >= 0.9:
        return "The server's core was the limit."
    return "Neither core was busy all the time: the limit is the round trips (latency), not CPU."


def _first_start_limits(figures: dict[str, float | None], results: dict[str, Any]) -> list[str]:
    """The first start against what writing its relays' output alone takes."""
    first, floor = figures["first_start_1m_s"], figures["first_start_floor_s"]
    raw, written = results.get("imported", {}).get("raw_consume_s"), results.get("first_start_floor")
    if not (first and floor and raw and written):
        return []
    return [
        f"- The first start ({first:.1f} s) relays {written['messages']:,} messages "
        f"({written['bytes'] / 1e9:.2f} GB) into the public and internal topics; Kafka's own producer "
        f"alone takes {floor:.1f} s to write them here, {floor / raw:.1f} x the raw consume of the "
        f"imports ({raw:.1f} s). The first start is {first / floor:.2f} x that floor; 2.0 x the raw "
        f"consume ({2 * raw:.1f} s) is below the floor itself. Its CPU by thread: "
        "`python -m bench.first_start_cpu` (bench/results/first-start-hold-2026-12-06.md)."
    ]


def _startup_limits(figures: dict[str, float | None], results: dict[str, Any]) -> list[str]:
    startup, apply = results.get("startup"), figures["rust_apply_events_per_s"]
    if not startup or not startup.get("projection_load_s"):
        return []
    loads = {topic: s["median"] for topic, s in startup["projection_load_s"].items()}
    slowest = max(loads, key=lambda topic: loads[topic])
    products = results["settings"]["products"]
    line = (
        f"- Startup waits for its slowest projection, {slowest} ({loads[slowest]:.1f} s; the others "
        + ", ".join(f"{t} {s:.1f} s" for t, s in loads.items() if t != slowest)
        + f"), while a raw consumer reads the same topics in {figures['raw_consume_1m_s'] or 0:.1f} s."
    )
    if slowest.startswith("catalog") and apply:
        line += (
            f" {products:,} catalog events at the pyperf apply rate ({apply:,.0f} events/s, in a process "
            f"doing nothing else) take {products / apply:.1f} s alone: the Rust apply bounds the start."
        )
    return [line]


def _snapshot_limits(figures: dict[str, float | None], results: dict[str, Any]) -> list[str]:
    loads = {topic: s["median"] for topic, s in results.get("snapshot_load_s", {}).items()}
    total = figures["snapshot_startup_1m_s"]
    if not loads or not total:
        return []
    # Each snapshot's load ends after its own and the one it waits for.
    ends = {topic: s + loads.get(LOADS_AFTER.get(topic, ""), 0.0) for topic, s in loads.items()}
    last = max(ends, key=lambda topic: ends[topic])
    first = LOADS_AFTER.get(last)
    path = f"{first} {loads[first]:.1f} s, then {last} {loads[last]:.1f} s" if first in loads else last
    return [
        f"- Startup from snapshots: {total:.1f} s, of which loading the snapshots takes {ends[last]:.1f} s "
        f"({path}; they load in Rust, one a core at once, checkout's once the catalog's is loaded); the rest "
        "is the process starting, the topics checked and the relays joining their groups."
    ]


def _memory_limits(figures: dict[str, float | None]) -> list[str]:
    rss, payload = figures["rss_bytes_per_product"], figures["payload_bytes_per_product"]
    if not rss or not payload:
        return []
    return [
        f"- Memory: {rss:.0f} bytes resident per product against {payload:.0f} bytes of its event: "
        "the product's fields, both copies' index entries and the allocator's overhead."
    ]


def _sections(results: dict[str, Any]) -> list[str]:
    return [
        *_http_section(results.get("http")),
        *_pages_section(results.get("pages")),
        *_startup_section(results),
        *_memory_section(results.get("memory")),
        *_search_section(results.get("search")),
        *_profile_section(results.get("http", {}).get("profiles", {})),
        *_notes_section(results.get("notes", [])),
    ]


def _search_section(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    mib = 1024 * 1024
    rss, payload = (found["rss_loaded"] - found["rss_empty"]) / mib, found["payload"] / mib
    suggest, search, batch = found["suggest_ms"], found["search_ms"], found["change_batch_apply_ms"]
    return [
        f"### Search ({found['products']:,} products, the Rust model in-process: no HTTP)",
        "",
        f"- Indexing from empty: {found['index_s']:.1f} s; resident memory {rss:.0f} MiB (both copies) "
        f"for {payload:.0f} MiB of events; posting lists {found['postings_bytes'] / mib:.1f} MiB a copy.",
        f"- A fresh index from its snapshot: {found['snapshot_load_s']:.2f} s "
        f"(same answers: {found['snapshot_same_answers']}).",
        f"- Suggest: median {suggest['median']:.2f} ms, p99 {suggest['p99']:.2f} ms; search with facets: "
        f"median {search['median']:.2f} ms, p99 {search['p99']:.2f} ms, "
        f"{found['searches_per_s']:,.0f}/s from {found['search_threads']} threads.",
        f"- A batch of {found['change_batch_size']} product changes (100 ms at 2,000 updates/s) applied "
        f"in median {batch['median']:.1f} ms, p99 {batch['p99']:.1f} ms.",
        "",
    ]


def _http_section(http: dict[str, Any] | None) -> list[str]:
    if not http:
        return ["HTTP: not measured.", ""]
    names = {
        "floor": "floor: constant-response Granian ASGI app, same body",
        "reads": "shop: `GET /api/v1/products?sort=name&page=3&per_page=100`",
        "reads_under_writes": "shop, same page, while the write driver runs",
        **{
            name: f"shop, same page, beside {_part_name(load)} alone"
            for name, load in http.get("write_parts", {}).items()
        },
        "cart_writes_c1": "cart writes `PUT /api/v1/cart/items/{id}`, 1 connection",
        "cart_writes_c64": "cart writes, 64 connections",
        **_browse_names(http.get("workload_bytes", {})),
    }
    lines = [
        f"### HTTP (server on core 0, wrk `-t1` on core 1; page body {http['body_bytes']:,} bytes)",
        "",
        "| load | req/s | p50 ms | p99 ms | errors | CPU: server / broker / wrk / driver (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for key, text in names.items():
        if key in http:
            figure = http[key]
            shares = http.get("cpu", {}).get(key, {})
            use = " / ".join(
                f"{shares[process]['median']:.2f}" if process in shares else "-"
                for process in ("server", "broker", "wrk", "driver")
            )
            lines.append(
                f"| {text} | {_runs(figure['requests_per_s'], digits=0)} | {_runs(figure['p50_ms'])} | "
                f"{_runs(figure['p99_ms'])} | {figure['errors']} | {use} |"
            )
    if "read_ratio" in http:
        lines += ["", f"Read ratio per run (shop / floor run just before it): {_runs(http['read_ratio'])}."]
    for key, text in (("browse_ratio", "Browse"), ("uncached_ratio", "Uncached pages")):
        if key in http:
            lines += ["", f"{text} ratio per run (shop / its floor run just before it): {_runs(http[key])}."]
    lines += _process_lines(http)
    for achieved in http.get("write_driver", []):
        lines.append(
            f"Write driver: {achieved['cart_writes']} cart writes ({achieved['cart_failures']} failed, "
            f"p50 {_number(achieved['cart_p50_ms'])} ms, p99 {_number(achieved['cart_p99_ms'])} ms) and "
            f"{achieved['catalog_updates']} catalog updates in {achieved['seconds']:g} s."
        )
    return [*lines, ""]


def _browse_names(sizes: dict[str, int]) -> dict[str, str]:
    """The rows of bench/browse.py's workloads, their floors answering the workload's mean size."""
    browse, uncached = sizes.get("browse", 0), sizes.get("uncached", 0)
    return {
        "browse_floor": f"floor: constant body of browse's mean answer ({browse:,} bytes)",
        "browse": "shop: browse (70% listing pages, 10% with a name prefix, 20% product pages, at random)",
        "browse_under_writes": "shop: browse, while the write driver runs",
        "uncached_floor": f"floor: constant body of the uncached pages' mean answer ({uncached:,} bytes)",
        "uncached": "shop: listing pages, no query twice in a run",
    }


# When each memory sample of the HTTP runs is taken, in words.
RSS_SAMPLES = {
    "empty": "empty",
    "loaded": "loaded",
    "after_browse": "after browsing right after the load",
    "at_end": "after every run (the write runs' carts, orders and catalog changes too)",
}


def _process_lines(http: dict[str, Any]) -> list[str]:
    """The whole process's memory, what it costs at rest and the propagation probes."""
    lines = []
    rss = http.get("process_rss", {})
    if rss:
        mib = ", ".join(f"{RSS_SAMPLES.get(name, name)} {rss[name] / 2**20:,.0f} MiB" for name in rss)
        lines += ["", f"Resident memory of `shop serve` (every process of its group summed): {mib}."]
    at_rest = http.get("at_rest")
    if at_rest:
        switches = at_rest["switches"]
        lines += [
            "",
            f"At rest (loaded, no request nor write, {at_rest['seconds']:g} s): the server used "
            f"{at_rest['cpu']:.2%} of its core (by thread group, in the kernel's 10 ms ticks: "
            f"{_ranked(at_rest['threads'], 100, 2)}; % of the core); "
            f"its threads were switched off the core {sum(switches.values()):,.0f} times a second "
            f"({_ranked(switches, 1, 0)}).",
        ]
    propagation = http.get("propagation_ms")
    if propagation:
        lines += [
            "",
            f"Propagation of a catalog update beside the write load's 2,000 updates/s (pim_internal to the "
            f"product page showing it, {propagation['probes']} probes): p50 {propagation['p50_ms']:.1f} ms, "
            f"p99 {propagation['p99_ms']:.1f} ms.",
        ]
    return lines


def _part_name(load: dict[str, Any]) -> str:
    """A part of the write load (bench/http_load.py WRITE_PARTS) in words: "500 cart writes/s"."""
    if load["cart_per_s"]:
        return f"{load['cart_per_s']:,.0f} cart {'reads' if load['cart_reads'] else 'writes'}/s"
    return f"{load['catalog_per_s']:,.0f} catalog updates/s"


def _pages_section(pages: dict[str, Any] | None) -> list[str]:
    if not pages:
        return ["Pages: not measured.", ""]
    lines = [
        f"### Catalog pages, Rust against the Python reference ({pages['products']:,} products, pyperf)",
        "",
        "Page 3 of 100. Rust answers encoded JSON; the reference only selects the products.",
        "",
        "| sort | prefix | Rust µs | Python ms | speedup |",
        "|---|---|---|---|---|",
    ]
    for query in pages["queries"].values():
        lines.append(
            f"| {query['sort']} | {query['prefix'] or '-'} | {query['rust_s']['median'] * 1e6:.1f} | "
            f"{query['python_s']['median'] * 1e3:.1f} | {query['speedup']:,.0f} x |"
        )
    rates = [1 / v for v in pages["apply_seconds_per_event"]["runs"]]
    lines += [
        "",
        "Apply (decode + both copies, batches of 10,000, from empty): "
        + ", ".join(f"{r:,.0f}" for r in rates)
        + " events/s.",
        "",
    ]
    return lines


def _startup_section(results: dict[str, Any]) -> list[str]:
    startup = results.get("startup")
    lines = ["### Startup to ready", ""]
    if "first_start_s" in results:
        lines.append(
            f"First start after the imports (every publisher and bridge relays everything): "
            f"{results['first_start_s']:.1f} s."
        )
    floor = results.get("first_start_floor")
    if floor:
        lines.append(
            f"Its floor, Kafka's ProducerPerformance writing the {floor['messages']:,} relayed messages "
            f"({floor['bytes'] / 1e9:.2f} GB) acks=all and idempotent: {floor['first_start_floor_s']:.1f} s."
        )
    if startup:
        lines += [
            f"Shop, replaying every topic (no snapshots): {_runs(startup['shop_s'], ' s', 1)}.",
            f"Raw confluent-kafka over the same topics: {_runs(startup['raw_s'], ' s', 1)}.",
            f"Ratio per run: {_runs(startup['ratio'])}.",
            "",
            "Each projection's loading time in those starts, as the shop logs it (they load in parallel; "
            "the start is ready when the slowest is, and its bridges have settled):",
            "",
            *(f"- {topic}: {_runs(s, ' s', 1)}" for topic, s in startup.get("projection_load_s", {}).items()),
            "",
        ]
    if "snapshot_startup_s" in results:
        lines += [
            f"Shop from its snapshots: {_runs(results['snapshot_startup_s'], ' s', 2)}. Each projection's "
            "snapshot loading time in those starts, as the shop logs it (one a core at once, checkout's once "
            "the catalog's is loaded):",
            "",
            *(f"- {topic}: {_runs(s, ' s', 2)}" for topic, s in results.get("snapshot_load_s", {}).items()),
        ]
    if "snapshot_startup_not_cached_s" in results:
        lines += [
            "",
            "Those starts had the snapshot files in the page cache, as a restart finds them moments after "
            "a stop. With the files dropped from the cache first (read from the disk): "
            f"{_runs(results['snapshot_startup_not_cached_s'], ' s', 2)}.",
        ]
    return [*lines, ""]


def _memory_section(memory: dict[str, Any] | None) -> list[str]:
    if not memory:
        return ["Memory: not measured.", ""]
    return [
        "### Memory",
        "",
        f"{memory['products']:,} products: RSS {memory['rss_empty'] / 2**20:,.0f} MiB empty, "
        f"{memory['rss_loaded'] / 2**20:,.0f} MiB loaded; their catalog events hold "
        f"{memory['payload'] / 2**20:,.0f} MiB of protobuf.",
        "",
    ]


def _profile_section(profiles: dict[str, list[list[Any]]]) -> list[str]:
    lines = []
    for name, frames in profiles.items():
        lines += [
            f"### Where the server's time goes: {name} (py-spy --native, 100 Hz, after the runs)",
            "",
            "Leaf frames, as shares of the samples in which a thread of the server process worked "
            "(waits for the GIL, locks and sockets left out).",
            "",
            "| share | frame |",
            "|---|---|",
        ]
        lines += [f"| {share * 100:.1f}% | `{frame}` |" for share, frame in frames]
        lines.append("")
    return lines


def _notes_section(notes: list[str]) -> list[str]:
    return ["## Notes", "", *(f"- {note}" for note in notes), ""] if notes else []
