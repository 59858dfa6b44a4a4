"""The pure parts of benchmarks/api_load.py that say where a run's slowest answers fell and
what the machine did meanwhile (the run itself is `make bench-api-load`)."""

from __future__ import annotations

import time

from benchmarks import api_load


def test_slow_answers_due_within_a_tenth_of_a_second_form_one_burst():
    # (due, latency) in seconds from the start of the run
    timeline = [(0.50, 0.004), (1.00, 0.030), (1.05, 0.028), (1.12, 0.025), (3.0, 0.031)]
    bursts = api_load._bursts(timeline, p99=0.025)
    assert bursts == [[(1.00, 0.030), (1.05, 0.028), (1.12, 0.025)], [(3.0, 0.031)]]
    # A burst runs from its first request's due time to its last answer.
    first, last = api_load._span(bursts[0])
    assert (first, round(last, 3)) == (1.00, 1.145)
    assert "in 2 bursts; the largest, 3, due from +1.00 s to +1.12 s" in api_load._slowest(
        bursts, 0.025
    )
    assert api_load._bursts([(0.5, 0.001)], p99=0.025) == []
    assert api_load._slowest([], 0.025) == "no answers"


def test_the_machine_report_counts_steal_and_iowait_over_the_run_and_the_burst():
    watch = api_load.MachineWatch()
    watch.stop()
    ticks = watch._ticks  # clock ticks a second
    start = 1000.0
    # (when, steal, iowait, runnable): a quiet run but for 50 ms of steal at +2.0 s
    steal_at_burst = ticks // 20
    watch.samples = [
        (start + 0.00, 10, 5, 2),
        (start + 1.00, 10, 5, 3),
        (start + 1.95, 10, 5, 2),
        (start + 2.05, 10 + steal_at_burst, 5, 9),
        (start + 3.00, 10 + steal_at_burst, 6, 2),
    ]
    report = watch.report(start, burst=(2.0, 2.1))
    one_tick = 1000 / ticks
    assert report.startswith(
        f"over the run (3.00 s): steal {steal_at_burst * one_tick:.0f} ms, "
        f"iowait {one_tick:.0f} ms, at most 9 tasks ready to run"
    )
    # The burst's window starts a tenth of a second before it, from the sample before that.
    assert report.endswith(
        f"over the largest burst (1.05 s): steal {steal_at_burst * one_tick:.0f} ms, "
        "iowait 0 ms, at most 9 tasks ready to run"
    )
    assert "largest burst" not in watch.report(start, burst=None)


def test_the_machine_is_sampled_from_proc_stat():
    watch = api_load.MachineWatch()
    time.sleep(0.1)
    watch.stop()
    assert len(watch.samples) >= 2
    assert all(
        steal >= 0 and iowait >= 0 and runnable >= 1 for _, steal, iowait, runnable in watch.samples
    )
    assert watch.report(watch.samples[0][0], burst=None).startswith("over the run (")
