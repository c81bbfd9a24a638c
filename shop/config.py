"""Settings: every one is an environment variable `SHOP_<NAME>` and a CLI flag `--<name>`, same name."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# The home page, teasers and pages shipped in the package, so a wheel's `shop run` shows them too.
SAMPLE_CONTENT = Path(__file__).with_name("sample_content")


def _setting(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class Config:
    kafka_bootstrap: str = _setting("127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)")
    topic_prefix: str = _setting("", "prefix of every topic name (isolates several shops on one cluster)")
    replication_factor: int = _setting(1, "replication factor of the topics the shop creates")
    min_insync_replicas: int = _setting(1, "min.insync.replicas of the topics the shop creates")
    http_host: str = _setting("127.0.0.1", "address the HTTP server binds")
    http_port: int = _setting(8000, "port the HTTP server binds")
    cors_origins: str = _setting("", "comma-separated origins allowed by CORS (none by default)")
    sample_rows: int = _setting(10_000, "products `shop run` imports when the topics are empty (0: none)")
    sample_seed: int = _setting(0, "seed of the sample data `shop run` imports")
    sample_content: str = _setting(
        str(SAMPLE_CONTENT), "folder of Markdown content `shop run` imports when cms has none (empty: none)"
    )
    consume_batch: int = _setting(10_000, "most messages a context applies in one batch")
    ready_timeout: float = _setting(30.0, "seconds a request waits for its own write to be applied")
    stall_timeout: int = _setting(30, "seconds a consumer may be stuck or lag unmoving before /healthz fails")
    broker_timeout: int = _setting(10, "seconds without a reachable broker before /readyz fails")
    log_level: str = _setting("INFO", "log level: DEBUG, INFO, WARNING or ERROR")
    snapshot_dir: str = _setting(
        "data/snapshots", "folder of the projections' snapshots (empty: no snapshots)"
    )
    snapshot_interval: int = _setting(
        300, "seconds after which a changed projection writes a snapshot (0: never)"
    )
    snapshot_events: int = _setting(
        100_000,
        "events after which a projection writes a snapshot; at least as many as it holds items (0: never)",
    )
    heap_trim_interval: int = _setting(
        10, "seconds between returns of freed heap memory to the system, the first once ready (0: never)"
    )
    trusted_proxies: str = _setting(
        "", "comma-separated proxy addresses whose X-Forwarded-Proto is believed (*: any; none by default)"
    )
    produce_timeout: int = _setting(10, "seconds Kafka has to acknowledge a write before it fails with 503")
    header_timeout: int = _setting(10, "seconds a client has to send the request line and headers")
    body_timeout: int = _setting(10, "seconds a client has to send a request body before it gets 408")
    breaker_failures: int = _setting(5, "consecutive failed writes that open the broker circuit breaker")
    breaker_cooldown: int = _setting(5, "seconds the open breaker fails writes fast before it probes again")
    max_commands: int = _setting(256, "most cart and order writes past their body at once; beyond that 503")
    max_offset_waits: int = _setting(
        64, "most requests waiting at once for their Shop-Min-Offset to be applied; beyond that 503"
    )
    http_backpressure: int = _setting(512, "most requests the server works on at once; more queue")
    http_backlog: int = _setting(1024, "most connections queued (the listen backlog) beyond those")
    cpu_policy: str = _setting(
        "batch", "Linux scheduling of the server's threads: batch (a woken thread waits its turn) or normal"
    )
    shutdown_timeout: int = _setting(30, "seconds a SIGTERM waits for in-flight requests and writes")
    startup_timeout: int = _setting(120, "seconds the start retries an unreachable broker before it fails")
    trace_ratio: float = _setting(
        0.0, "fraction of requests traced through Kafka to the trace endpoint (0: tracing off; 1: all)"
    )
    trace_endpoint: str = _setting(
        "http://127.0.0.1:9411/api/v2/spans", "Zipkin's span endpoint the traces are sent to"
    )
    master_key_file: str = _setting(
        "data/master.key", "file of the master key (64 hex digits) that wraps each shopper's key"
    )
    smtp_host: str = _setting("127.0.0.1", "SMTP server the order emails are sent to")
    smtp_port: int = _setting(1025, "its port")
    smtp_tls: str = _setting("none", "none, starttls or tls (SMTP over TLS from the first byte)")
    smtp_user: str = _setting("", "SMTP login (empty: none)")
    smtp_password: str = _setting("", "SMTP password")
    mail_from: str = _setting("Event Thingy Store <shop@localhost>", "sender of the order emails")
    public_url: str = _setting("http://127.0.0.1:8000", "the storefront's address, for links in emails")

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Built-in defaults, overridden by `SHOP_*` variables, overridden by non-None `overrides`."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if env_name(field.name) in environ:
                values[field.name] = _parse(field, environ[env_name(field.name)])
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces this configuration in a child process."""
        return {env_name(name): str(value) for name, value in dataclasses.asdict(self).items()}


def env_name(name: str) -> str:
    return "SHOP_" + name.upper()


def _parse(field: dataclasses.Field[Any], raw: str) -> Any:
    if isinstance(field.default, float):
        try:
            return float(raw)
        except ValueError:
            raise SystemExit(f"{env_name(field.name)}={raw!r}: expected a number") from None
    if isinstance(field.default, int):
        try:
            return int(raw)
        except ValueError:
            raise SystemExit(f"{env_name(field.name)}={raw!r}: expected an integer") from None
    return raw


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """A flag per setting; unset flags fall back to the environment, then to the built-in default."""
    wanted = None if names is None else set(names)
    for field in dataclasses.fields(Config):
        if wanted is not None and field.name not in wanted:
            continue
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=type(field.default),
            default=None,
            help=f"{field.metadata['help']} [env {env_name(field.name)}; default {field.default!r}]",
        )


def from_args(args: argparse.Namespace) -> Config:
    names = [field.name for field in dataclasses.fields(Config)]
    return Config.from_env(**{name: getattr(args, name, None) for name in names})
