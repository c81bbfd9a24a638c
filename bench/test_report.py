"""What latest.json and latest.md say of the shop at rest (bench/http_load.py `at_rest`)."""

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
