"""`shop`: run the shop, import and fake data, manage topics."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import io
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from granian import Granian
from granian.constants import Interfaces, Loops
from granian.http import HTTP1Settings

from shop import __version__, _core, copy_events, event_log, logs, shoppers, tracing
from shop.config import Config, add_arguments, from_args
from shop.contexts import catalog, checkout, cms, cms_files, fulfilment, pim, pim_csv, search, stock_csv
from shop.kafka import admin
from shop.kafka.producer import Producer
from shop.kafka.projection import Projection, ProjectionLoop
from shop.service import all_topics

log = logging.getLogger("shop")
# Beyond shutdown_timeout for the requests and the flush: the relays and projections stop too.
STOP_MARGIN_S = 15
# The ports this process serves on, each with its lock (see check_port_free).
_PORT_LOCKS: dict[int, socket.socket] = {}


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    config = from_args(args)
    logs.setup(config.log_level)
    try:
        args.command(config, args)
    except pim_csv.CsvError as exc:
        print(f"error: {exc}; nothing was imported", file=sys.stderr)
        raise SystemExit(2) from None
    except cms_files.ContentError as exc:
        print(f"error: {exc}; nothing was produced", file=sys.stderr)
        raise SystemExit(2) from None
    except (admin.TopicMismatch, event_log.UnknownTopic, copy_events.CopyRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shop", description=__doc__)
    parser.add_argument("--version", action="version", version=f"shop {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(
        name: str, func: object, help: str, settings: Sequence[str] | None = ()
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        add_arguments(sub, settings)
        sub.set_defaults(command=func)
        return sub

    command("run", run, "create topics, import sample data if there is none, and serve the shop", None)
    command("serve", serve, "serve the shop (every context, its bridges and publishers) over HTTP", None)
    kafka = ("kafka_bootstrap", "topic_prefix", "replication_factor", "min_insync_replicas", "log_level")
    sub = command("import-products", import_products, "make pim's products equal a CSV file", kafka)
    sub.add_argument("path", help="CSV file (- for standard input)")
    sub = command("fake-products", fake_products, "write deterministic sample products as CSV to stdout")
    sub.add_argument("--rows", type=int, default=10_000)
    sub.add_argument("--seed", type=int, default=0)
    sub = command("import-stock", import_stock, "make on-hand stock equal a CSV of targets", kafka)
    sub.add_argument("path", help="CSV file product_id,quantity (- for standard input)")
    sub = command("fake-stock", fake_stock, "write deterministic stock levels for a products CSV to stdout")
    sub.add_argument("products", help="products CSV file")
    sub.add_argument("--seed", type=int, default=0)
    sub = command(
        "import-content", import_content, "make the cms entries equal a folder of Markdown files", kafka
    )
    sub.add_argument("path", help="folder of .md files, each a front matter and a Markdown body")
    content = commands.add_parser("content", help="an entry's history and its revert", description=None)
    content_commands = content.add_subparsers(required=True, metavar="ACTION")
    sub = content_commands.add_parser("history", help="list the versions of an entry with their time")
    add_arguments(sub, kafka)
    sub.add_argument("slug")
    sub.set_defaults(command=content_history)
    sub = content_commands.add_parser("revert", help="produce a new version restoring an earlier one")
    add_arguments(sub, kafka)
    sub.add_argument("slug")
    sub.add_argument("version", type=int)
    sub.set_defaults(command=content_revert)
    sub = command(
        "forget",
        forget,
        "forget a shopper: erase their keys, so no order shows their details",
        (*kafka, "master_key_file"),
    )
    sub.add_argument("email", help="the shopper's email address")
    command("topics", topics, "create the shop's topics (idempotent) and check their settings", kafka)
    command(
        "snapshot",
        snapshot,
        "bring every projection's snapshot up to date with its topic (load it, replay the tail, write it)",
        (*kafka, "snapshot_dir", "consume_batch"),
    )
    _events_parser(commands.add_parser("events", help="read the shop's topics decoded"))
    help = "copy the shop's topics from one cluster to another, offset for offset (resumes where it stopped)"
    sub = command(
        "copy-events",
        copy_events_command,
        help,
        ("topic_prefix", "replication_factor", "min_insync_replicas", "log_level"),
    )
    sub.add_argument("--from", dest="source", required=True, metavar="BOOTSTRAP", help="the source cluster")
    sub.add_argument(
        "--to", dest="destination", required=True, metavar="BOOTSTRAP", help="the destination cluster"
    )
    sub.add_argument(
        "--topics",
        type=lambda text: [t for t in text.split(",") if t],
        help="comma-separated topics (default: all of the shop's)",
    )
    sub.add_argument(
        "--since", type=_time, help="refuse unless the destination already holds every event before TIME"
    )
    sub.add_argument(
        "--scrub", action="store_true", help="replace personal data by stable fakes (docs/operations.md)"
    )
    return parser


def _events_parser(events: argparse.ArgumentParser) -> None:
    actions = events.add_subparsers(required=True, metavar="ACTION")
    help = "print a topic's messages decoded, one a line: partition:offset, time, headers, event"
    sub = actions.add_parser("tail", help=help, description=help)
    add_arguments(sub, ("kafka_bootstrap", "topic_prefix", "log_level"))
    sub.set_defaults(command=events_tail)
    sub.add_argument(
        "topic", help="a topic of the shop, without the prefix (pim_pub, checkout_internal_dead, ...)"
    )
    start = sub.add_mutually_exclusive_group()
    start.add_argument(
        "--from", dest="first", type=int, help="first offset (negative: that many before the end)"
    )
    start.add_argument(
        "--since", type=_time, help="first message at or after TIME (ISO 8601, or 15m, 2h, 3d ago)"
    )
    sub.add_argument("--follow", action="store_true", help="keep printing new messages until interrupted")
    sub.add_argument("--key", help="only messages with this key")
    sub.add_argument("--product", help="only events naming this product id")
    sub.add_argument("--cart", help="only events naming this cart id")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")


def _time(text: str) -> int:
    try:
        return event_log.parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def copy_events_command(config: Config, args: argparse.Namespace) -> None:
    source = dataclasses.replace(config, kafka_bootstrap=args.source)
    destination = dataclasses.replace(config, kafka_bootstrap=args.destination)
    summary = copy_events.copy_events(
        source, destination, args.topics, since_ms=args.since, scrub=args.scrub, progress=sys.stderr
    )
    print(f"copy-events: {summary}")


def events_tail(config: Config, args: argparse.Namespace) -> None:
    filters = event_log.Filters(key=args.key, product=args.product, cart=args.cart)
    try:
        event_log.tail(
            config,
            args.topic,
            sys.stdout,
            filters,
            as_json=args.json,
            since_ms=args.since,
            first=args.first,
            follow=args.follow,
        )
    except KeyboardInterrupt:  # --follow ends so
        pass
    except BrokenPipeError:  # piped into head: the reader has seen enough; no error at exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(config: Config, args: argparse.Namespace) -> None:
    set_cpu_policy(config.cpu_policy)  # a wrong setting fails before anything is imported
    check_port_free(config.http_host, config.http_port)  # and so does a port in use
    tracing.check(config)  # and a trace ratio that is no share
    admin.ensure_topics(config, all_topics())
    if config.sample_rows > 0 and admin.end_offset(config, config.topic(pim.INTERNAL)) == 0:
        log.info(
            "no products yet: importing %d sample products (seed %d)", config.sample_rows, config.sample_seed
        )
        sample = io.StringIO()
        pim_csv.fake_products(config.sample_rows, config.sample_seed, sample)
        sample.seek(0)
        pim_csv.import_products(config, sample, progress=sys.stderr.isatty())
    if config.sample_rows > 0 and admin.end_offset(config, config.topic(fulfilment.INTERNAL)) == 0:
        log.info("no stock yet: importing sample stock for the sample products")
        products, stock = io.StringIO(), io.StringIO()
        pim_csv.fake_products(config.sample_rows, config.sample_seed, products)
        products.seek(0)
        stock_csv.fake_stock(products, config.sample_seed, stock)
        stock.seek(0)
        stock_csv.import_stock(config, stock, progress=sys.stderr.isatty())
    content = Path(config.sample_content)
    if config.sample_content and admin.end_offset(config, config.topic(cms.INTERNAL)) == 0:
        if content.is_dir():
            log.info("no content yet: importing %s", content)
            cms_files.import_content(config, content)
        else:
            log.warning("no content yet, and no folder %s to import it from", content.resolve())
    serve(config, args)


def serve(config: Config, args: argparse.Namespace) -> None:
    os.environ.update(config.to_env())  # the worker builds its Config from the environment
    check_port_free(config.http_host, config.http_port)
    tracing.check(config)
    log.info("serving on http://%s:%d", config.http_host, config.http_port)
    serve_http("shop.api.app:app", config)


def serve_http(target: str, config: Config) -> None:
    """Serves the ASGI app `target` with the shop's server settings until stopped (the benchmarks'
    floor app is served by it too, so that both run on the same settings)."""
    set_cpu_policy(config.cpu_policy)
    # On SIGTERM Granian stops accepting, lets the in-flight requests finish, then runs the ASGI
    # lifespan shutdown (Shop.stop: relays, projections, producer flush); a worker that takes
    # longer than shutdown_timeout is killed.
    Granian(
        target,
        address=config.http_host,
        port=config.http_port,
        interface=Interfaces.ASGI,
        # uvloop, not asyncio's own loop: every request and every write's answer is a callback
        # handed over from another thread, which uvloop does in C (docs/design.md).
        loop=Loops.uvloop,
        workers=1,
        backpressure=config.http_backpressure,
        backlog=config.http_backlog,
        http1_settings=HTTP1Settings(header_read_timeout=config.header_timeout * 1000),
        workers_kill_timeout=config.shutdown_timeout + STOP_MARGIN_S,
        log_access=False,
        log_level=config.log_level.lower(),  # type: ignore[arg-type]
    ).serve()


def check_port_free(host: str, port: int) -> None:
    """Fails the start if another shop starts or serves on `port`, or any socket listens on
    `host`:`port`. Granian binds with SO_REUSEPORT, which lets a second shop bind the port of a
    running one and silently take a share of its connections. Two checks: a lock held for the life
    of this process (an abstract Unix socket named after the port: atomic, gone when the process
    is), since Granian listens only once the shop has loaded; and a bind without SO_REUSEPORT,
    which fails while anything else listens there."""
    if port not in _PORT_LOCKS and sys.platform == "linux":
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lock.bind(f"\0event-thingy-store-http-port-{port}")
        except OSError:
            lock.close()
            raise SystemExit(
                f"error: cannot serve on {host}:{port}: another shop starts or serves on port {port}"
            ) from None
        _PORT_LOCKS[port] = lock
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a stopped shop's TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            hint = " (another shop or server listens there)" if exc.errno == errno.EADDRINUSE else ""
            raise SystemExit(f"error: cannot serve on {host}:{port}: {exc.strerror}{hint}") from None


# SCHED_BATCH: a thread that wakes does not preempt the thread that woke it, which still holds the
# GIL it would wait for (docs/design.md, "The server process"). Later threads and workers inherit it.
CPU_POLICIES = {"batch": "SCHED_BATCH", "normal": "SCHED_OTHER"}


def set_cpu_policy(policy: str) -> None:
    """Puts this process, and so every thread and worker it starts afterwards, under `policy`."""
    if policy not in CPU_POLICIES:
        raise SystemExit(f"SHOP_CPU_POLICY={policy!r}: expected one of {', '.join(CPU_POLICIES)}")
    if not hasattr(os, "sched_setscheduler"):  # not Linux: the platform's own scheduling
        return
    try:
        os.sched_setscheduler(0, getattr(os, CPU_POLICIES[policy]), os.sched_param(0))
    except OSError as exc:  # a sandbox that forbids it: serve anyway, on the normal policy
        log.warning("could not set the CPU policy %s (%s): serving with the normal policy", policy, exc)


def import_products(config: Config, args: argparse.Namespace) -> None:
    with _open(args.path) as stream:
        print(f"import-products: {pim_csv.import_products(config, stream)}")


def import_stock(config: Config, args: argparse.Namespace) -> None:
    with _open(args.path) as stream:
        print(f"import-stock: {stock_csv.import_stock(config, stream)}")


def import_content(config: Config, args: argparse.Namespace) -> None:
    print(f"import-content: {cms_files.import_content(config, Path(args.path))}")


def content_history(config: Config, args: argparse.Namespace) -> None:
    versions = cms_files.history(config).get(args.slug)
    if not versions:
        raise cms_files.ContentError(f"no entry with slug {args.slug!r}")
    print("version  written (UTC)         state  title")
    for version in versions:
        print(version.describe())


def content_revert(config: Config, args: argparse.Namespace) -> None:
    version = cms_files.revert(config, args.slug, args.version)
    if version is None:
        print(f"{args.slug}: version {args.version} is its content already; nothing produced")
    else:
        print(f"{args.slug}: version {version.number} restores version {args.version}")


def fake_stock(config: Config, args: argparse.Namespace) -> None:
    with _open(args.products) as products:
        stock_csv.fake_stock(products, args.seed, sys.stdout)


def _open(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"error: cannot read {path}: {exc.strerror}") from None


def fake_products(config: Config, args: argparse.Namespace) -> None:
    pim_csv.fake_products(args.rows, args.seed, sys.stdout)


def forget(config: Config, args: argparse.Namespace) -> None:
    admin.ensure_topics(config, all_topics())
    erased = shoppers.forget(config, args.email)
    print(f"{erased} key(s) of that shopper erased; the broker drops them from shopper_keys when it compacts")


def topics(config: Config, args: argparse.Namespace) -> None:
    admin.ensure_topics(config, all_topics())
    for topic in all_topics():
        print(config.topic(topic))


def snapshot(config: Config, args: argparse.Namespace) -> None:
    """Each projection as `shop serve` loads it (its snapshot, then the tail), then stopped, which
    writes its snapshot. Relays do not run: the snapshot covers what the topics hold now."""
    if not config.snapshot_dir:
        raise SystemExit("error: snapshots are off (SHOP_SNAPSHOT_DIR is empty)")
    admin.ensure_topics(config, all_topics())
    models: dict[str, Projection] = {
        catalog.INTERNAL: _core.Catalog(),
        checkout.INTERNAL: _core.Checkout(),
        fulfilment.INTERNAL: _core.Fulfilment(),
        cms.INTERNAL: _core.Content(),
        search.INTERNAL: _core.Search(),
    }
    producer = Producer(config)
    try:
        for topic, model in models.items():
            loop = ProjectionLoop(config, topic, model, producer)
            loop.start()
            while not loop.loaded.wait(0.1):
                if not loop.alive:
                    raise SystemExit(f"error: loading {topic} failed: {loop.failure}")
            loop.stop(timeout=600)
            if loop.snapshots.covered < 0:
                print(f"{loop.topic}: empty, no snapshot")
            else:
                print(f"{loop.topic}: snapshot at offset {loop.snapshots.covered} in {loop.snapshots.path}")
    finally:
        producer.close()
