"""A run of some parts of `python -m bench` keeps the figures of the others."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import PARTS, SECTIONS, carry_over


def committed(tmp_path: Path) -> Path:
    details: dict[str, object] = {key: {"from": key} for part in PARTS for key in SECTIONS[part]}
    details |= {"imported": {"payload_bytes": 7}, "first_start_s": 80.6, "finished_at": "then"}
    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"details": details}))
    return path


def test_a_run_without_a_broker_keeps_the_import_the_http_figures_are_read_against(tmp_path: Path) -> None:
    results: dict[str, object] = {"memory": {"new": True}, "finished_at": "now"}
    carry_over(results, {"memory"}, committed(tmp_path))
    assert results["memory"] == {"new": True}
    assert results["http"] == {"from": "http"}
    assert results["imported"] == {"payload_bytes": 7}
    assert results["first_start_s"] == 80.6


def test_a_run_with_a_broker_keeps_its_own_import(tmp_path: Path) -> None:
    results: dict[str, object] = {
        "imported": {"payload_bytes": 9},
        "first_start_s": 70.0,
        "finished_at": "now",
    }
    carry_over(results, {"startup"}, committed(tmp_path))
    assert results["imported"] == {"payload_bytes": 9}
    assert results["first_start_s"] == 70.0
    assert results["http"] == {"from": "http"}


def test_a_part_carried_over_twice_keeps_the_time_it_was_measured(tmp_path: Path) -> None:
    first: dict[str, object] = {key: {"new": 1} for key in SECTIONS["startup"]} | {"finished_at": "second"}
    carry_over(first, {"startup"}, committed(tmp_path))
    path = tmp_path / "second.json"
    path.write_text(json.dumps({"details": first}))
    again: dict[str, object] = {"search": {"new": 2}, "finished_at": "third"}
    carry_over(again, {"search"}, path)
    assert again["measured_at"] == {part: "then" for part in PARTS} | {"startup": "second", "search": "third"}
    assert sorted(again["notes"]) == [  # type: ignore[call-overload]
        "pages, memory, http, content, search-http: figures of the run finished then (not run again).",
        "startup: figures of the run finished second (not run again).",
    ]
