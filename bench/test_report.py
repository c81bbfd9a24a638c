"""What latest.json and latest.md say of the shop at rest (bench/http_load.py `at_rest`) and of
the first start against its floor."""

from __future__ import annotations

from bench import report

AT_REST = {
    "seconds": 10,
    "cpu": 0.0153,
    "threads": {"relays (Python)": 0.004, "librdkafka (C)": 0.006, "snapshots": 0.0},
    "switches": {"relays (Python)": 90.0, "librdkafka (C)": 175.2, "snapshots": 0.0},
}


def test_the_shop_at_rest_gives_its_core_share_and_its_threads_switches() -> None:
    figures = report.browse_keys({"http": {"at_rest": AT_REST}})
    assert figures["at_rest_server_cpu_share"] == 0.0153
    assert figures["at_rest_thread_switches_per_s"] == 265.2
    [line] = [line for line in report._process_lines({"at_rest": AT_REST}) if line]
    assert line == (
        "At rest (loaded, no request nor write, 10 s): the server used 1.53% of its core "
        "(by thread group, in the kernel's 10 ms ticks: librdkafka (C) 0.60, relays (Python) 0.40; "
        "% of the core); its threads were switched off "
        "the core 265 times a second (librdkafka (C) 175, relays (Python) 90)."
    )


def test_a_run_without_the_http_part_has_no_figures_at_rest() -> None:
    figures = report.browse_keys({})
    assert figures["at_rest_server_cpu_share"] is None
    assert figures["at_rest_thread_switches_per_s"] is None
    assert report._process_lines({}) == []


def test_the_first_start_is_told_against_writing_its_relays_output_alone() -> None:
    results = {
        "imported": {"first_start_s": 32.3, "raw_consume_s": 4.2},
        "first_start_floor": {"messages": 6_000_000, "bytes": 2_231_753_695, "first_start_floor_s": 16.8},
    }
    figures = report.browse_keys(results)
    assert report._first_start_limits(figures, results) == [
        "- The first start (32.3 s) relays 6,000,000 messages (2.23 GB) into the public and internal "
        "topics; Kafka's own producer alone takes 16.8 s to write them here, 4.0 x the raw consume of "
        "the imports (4.2 s). The first start is 1.92 x that floor; 2.0 x the raw consume (8.4 s) is "
        "below the floor itself. Its CPU by thread: `python -m bench.first_start_cpu` "
        "(bench/results/first-start-hold-2026-12-06.md)."
    ]
    assert report._first_start_limits(report.browse_keys({}), {}) == []
