"""Content as Markdown files with a front matter, and the tools over cms_internal: the importer
that makes the published entries equal a folder, an entry's history, and its revert.

A file is a front matter between two `---` lines, then the Markdown body:

    ---
    slug: shipping
    title: Shipping
    kind: page            # page | hero | teaser
    published: true
    publish_at: 2026-12-24T08:00:00Z   # optional: shown from then on
    position: 10                       # optional: order among its kind
    products: [id-1, id-2]             # optional: products it features
    ---
    We ship within **two days**.

Each front matter line is `key: value`; a value may be quoted; `#` starts a comment outside
quotes. Versions count per slug from 1, in the order of cms_internal."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import time
from pathlib import Path

from shop import _core
from shop._proto import cms_pb2
from shop.config import Config
from shop.contexts import cms
from shop.kafka import admin
from shop.kafka.consumer import replay
from shop.kafka.producer import ImportProducer

log = logging.getLogger(__name__)

FENCE = "---"
REQUIRED = ("slug", "title", "kind", "published")
OPTIONAL = ("publish_at", "position", "products")
MAX_POSITION = 10**9
_POSITION = re.compile("-?[0-9]{1,10}")


class ContentError(ValueError):
    """A file of the folder is malformed (named with its line), or a request names no version;
    nothing was produced."""


def parse_folder(folder: Path) -> list[cms_pb2.Entry]:
    """Every `*.md` file of `folder` as an entry, in file name order; raises ContentError naming
    the file and line of the first problem, or both files of a slug given twice."""
    if not folder.is_dir():
        raise ContentError(f"{folder}: not a folder")
    entries: list[cms_pb2.Entry] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.md")):
        entry, slug_line = parse_file(path)
        if entry.slug in seen:
            raise ContentError(f"{path}: line {slug_line}: slug {entry.slug} is taken by {seen[entry.slug]}")
        seen[entry.slug] = path
        entries.append(entry)
    return entries


def parse_file(path: Path) -> tuple[cms_pb2.Entry, int]:
    """The entry of the file at `path`, and the line of its slug."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ContentError(f"{path}: line {line}: not UTF-8 text") from None
    try:
        return parse_entry(text)
    except ContentError as exc:
        raise ContentError(f"{path}: {exc}") from None


def parse_entry(text: str) -> tuple[cms_pb2.Entry, int]:
    """One file's text as an entry, and the line of its slug; ContentError("line N: why") otherwise."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != FENCE:
        raise ContentError(f"line 1: expected {FENCE} to open the front matter")
    fields: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == FENCE:
            body = "\n".join(lines[number:]) + ("\n" if text.endswith("\n") else "")
            return _entry(fields, number, body.lstrip("\n")), fields["slug"][0]
        key, value = _field(line, number)
        if key is None:
            continue
        if key in fields:
            raise ContentError(f"line {number}: {key} is given twice (first on line {fields[key][0]})")
        fields[key] = (number, value)
    raise ContentError(f"line {len(lines)}: the front matter is not closed by {FENCE}")


def _field(line: str, number: int) -> tuple[str | None, str]:
    """(key, raw value) of a front matter line; (None, "") for a blank or comment line."""
    content = _without_comment(line).strip()
    if not content:
        return None, ""
    key, colon, value = content.partition(":")
    key = key.strip()
    if not colon or not key:
        raise ContentError(f"line {number}: expected key: value, found {line.strip()!r}")
    if key not in REQUIRED + OPTIONAL:
        raise ContentError(f"line {number}: unknown field {key!r}; known: {', '.join(REQUIRED + OPTIONAL)}")
    return key, value.strip()


def _without_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _entry(fields: dict[str, tuple[int, str]], fence_line: int, body: str) -> cms_pb2.Entry:
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise ContentError(f"line {fence_line}: the front matter has no {', '.join(missing)}")
    entry = cms_pb2.Entry(body=body)
    for key, (number, raw) in fields.items():
        try:
            _set(entry, key, raw)
        except ValueError as exc:
            raise ContentError(f"line {number}: {key}: {exc}") from None
    return entry


def _set(entry: cms_pb2.Entry, key: str, raw: str) -> None:
    if key == "slug":
        entry.slug = _text(raw)
        if not _core.valid_slug(entry.slug):
            raise ValueError(
                f"{entry.slug!r} is not a slug: lowercase letters, digits and inner hyphens, "
                f"at most {_core.MAX_SLUG}"
            )
    elif key == "title":
        entry.title = _text(raw)
        if not entry.title:
            raise ValueError("is empty")
    elif key == "kind":
        entry.kind = _text(raw)
        if entry.kind not in _core.CONTENT_KINDS:
            raise ValueError(f"{entry.kind!r} is not one of {', '.join(_core.CONTENT_KINDS)}")
    elif key == "published":
        if raw not in ("true", "false"):
            raise ValueError(f"{raw!r} is not true or false")
        entry.published = raw == "true"
    elif key == "publish_at":
        entry.publish_at = _milliseconds(_text(raw))
    elif key == "position":
        if _POSITION.fullmatch(raw) is None or abs(int(raw)) > MAX_POSITION:
            raise ValueError(f"{raw!r} is not a whole number from -{MAX_POSITION} to {MAX_POSITION}")
        entry.position = int(raw)
    elif key == "products":
        entry.products.extend(_list(raw))


def _text(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def _milliseconds(text: str) -> int:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time like 2026-12-24T08:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z for UTC)")
    return int(moment.timestamp() * 1000)


def _list(raw: str) -> list[str]:
    if not (raw.startswith("[") and raw.endswith("]")):
        raise ValueError(f"expected a list like [id-1, id-2], found {raw!r}")
    items = [_text(item.strip()) for item in raw[1:-1].split(",")]
    if items == [""]:
        return []
    if any(not item for item in items):
        raise ValueError("an item of the list is empty")
    return items


@dataclasses.dataclass(frozen=True)
class Version:
    """One event of an entry: its number (from 1), when it was written, and what it restored."""

    number: int
    changed_at: int  # milliseconds since the epoch
    reverted_to: int
    entry: cms_pb2.Entry

    def describe(self) -> str:
        when = datetime.datetime.fromtimestamp(self.changed_at / 1000, datetime.UTC)
        state = "removed" if self.entry.removed else "published" if self.entry.published else "draft"
        if self.entry.publish_at and self.entry.published and not self.entry.removed:
            at = datetime.datetime.fromtimestamp(self.entry.publish_at / 1000, datetime.UTC)
            state = f"scheduled for {at:%Y-%m-%dT%H:%M:%SZ}"
        revert = f" (reverted to {self.reverted_to})" if self.reverted_to else ""
        return f"{self.number:>4}  {when:%Y-%m-%dT%H:%M:%SZ}  {state}{revert}  {self.entry.title}"


def history(config: Config) -> dict[str, list[Version]]:
    """Every entry's versions, by slug, from cms_internal."""
    found: dict[str, list[Version]] = {}

    def apply(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            try:
                message = cms_pb2.InternalMessage.FromString(value)
            except Exception:  # poison: the projection skips it too (dead letters keep it)
                continue
            changed = message.entry_changed
            if not message.HasField("entry_changed") or not _core.valid_slug(changed.entry.slug):
                continue
            versions = found.setdefault(changed.entry.slug, [])
            versions.append(
                Version(len(versions) + 1, changed.changed_at, changed.reverted_to, changed.entry)
            )

    admin.ensure_topics(config, cms.TOPICS)
    replay(config, cms.INTERNAL, apply)
    return found


@dataclasses.dataclass
class ImportSummary:
    files: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.files} files: {self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.removed} removed"
        )


def _same(a: cms_pb2.Entry, b: cms_pb2.Entry) -> bool:
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


def plan_import(
    entries: list[cms_pb2.Entry], current: dict[str, cms_pb2.Entry]
) -> tuple[list[cms_pb2.Entry], ImportSummary]:
    """The entries to produce so that cms equals the folder: new and changed files, and a removal
    of each entry whose file is gone."""
    summary = ImportSummary(files=len(entries))
    events = []
    for entry in entries:
        before = current.get(entry.slug)
        if before is not None and _same(before, entry):
            summary.unchanged += 1
            continue
        if before is None or before.removed:
            summary.new += 1
        else:
            summary.changed += 1
        events.append(entry)
    in_folder = {entry.slug for entry in entries}
    for slug, before in sorted(current.items()):
        if slug not in in_folder and not before.removed:
            gone = cms_pb2.Entry()
            gone.CopyFrom(before)
            gone.removed = True
            summary.removed += 1
            events.append(gone)
    return events, summary


def import_content(config: Config, folder: Path) -> ImportSummary:
    """Reads and checks the whole folder first (a broken file stops everything), then produces
    only the changes to cms_internal."""
    entries = parse_folder(folder)
    with ImportProducer(config) as producer:
        current = {slug: versions[-1].entry for slug, versions in history(config).items()}
        events, summary = plan_import(entries, current)
        produce(config, producer, [(entry, 0) for entry in events])
    log.info("import-content: %s", summary)
    return summary


def revert(config: Config, slug: str, number: int) -> Version | None:
    """Produces a new version of `slug` equal to its version `number`; None when that is the
    current content already (nothing produced). ContentError for an unknown slug or version."""
    with ImportProducer(config) as producer:
        versions = history(config).get(slug)
        if not versions:
            raise ContentError(f"no entry with slug {slug!r}")
        if not 1 <= number <= len(versions):
            raise ContentError(f"{slug} has versions 1 to {len(versions)}, not {number}")
        wanted = versions[number - 1].entry
        if _same(versions[-1].entry, wanted):
            return None
        changed_at = produce(config, producer, [(wanted, number)])
    return Version(len(versions) + 1, changed_at, number, wanted)


def produce(config: Config, producer: ImportProducer, entries: list[tuple[cms_pb2.Entry, int]]) -> int:
    """Produces each (entry, version it reverts to or 0) as an EntryChanged; returns its time."""
    now = int(time.time() * 1000)
    messages = [
        cms_pb2.InternalMessage(
            entry_changed=cms_pb2.EntryChanged(entry=entry, changed_at=now, reverted_to=reverted_to)
        ).SerializeToString()
        for entry, reverted_to in entries
    ]
    producer.produce_all(config.topic(cms.INTERNAL), messages, None)
    return now
