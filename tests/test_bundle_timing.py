"""The bundle runner's timing (issue 31): rounds of `repeats` samples, the figure is the
quietest round's median (and its p90), rounds go on until three were taken and the two lowest
medians agree within 2 %, or the round limit, or the time cap; and the host's instruction-set
facts read from /proc/cpuinfo.

The timed step is faked: each "run" returns a scripted duration and moves a fake clock, so every
expected figure is computed here with numpy from the script."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.devices import run_bundle

PROTOCOL = {"warmup": 1, "repeats": 6, "max_seconds": 100.0, "cv_threshold": 0.1}


class Script:
    """A step whose runs take the scripted milliseconds in turn, on a fake clock (seconds)."""

    def __init__(self, durations):
        self.durations, self.now, self.runs = list(durations), 0.0, 0

    def ms(self, _step) -> float:
        value = self.durations[min(self.runs, len(self.durations) - 1)]
        self.runs += 1
        self.now += value / 1000.0
        return value

    def clock(self) -> float:
        return self.now


def _timed(monkeypatch, durations, **protocol):
    script = Script(durations)
    monkeypatch.setattr(run_bundle, "_ms", script.ms)
    figures = run_bundle.time_step(np, lambda: None, {**PROTOCOL, **protocol}, clock=script.clock)
    return figures, script


def test_steady_step_takes_three_rounds(monkeypatch):
    figures, script = _timed(monkeypatch, [1.0] * 100)
    assert figures["rounds_done"] == 3 and script.runs == 1 + 3 * 6  # one warm-up run, three rounds
    assert figures["p50_ms"] == 1.0 and figures["estimator"] == "min-round-median"
    assert figures["precise"] is True and figures["noisy"] is False and figures["samples"] == 18


def test_figure_is_the_quietest_round_and_rounds_go_on_until_two_agree(monkeypatch):
    rounds = [[1.5, 1.6, 1.5, 1.4, 1.5, 9.0],  # a busy round
              [1.2, 1.2, 1.3, 1.2, 1.1, 1.2],
              [1.0, 1.0, 1.1, 1.0, 0.9, 4.0],  # the quietest: lowest median
              [1.01, 1.02, 1.0, 1.01, 1.01, 1.03]]  # agrees with it within 2%: stop
    figures, _ = _timed(monkeypatch, [2.0] + [v for r in rounds for v in r] + [50.0] * 60)
    medians = [float(np.median(r)) for r in rounds]
    assert figures["rounds_done"] == 4
    assert figures["round_medians_ms"] == pytest.approx(medians)
    assert figures["p50_ms"] == pytest.approx(np.median(rounds[2]))
    assert figures["p90_ms"] == pytest.approx(np.percentile(rounds[2], 90))
    assert figures["round_spread"] == pytest.approx((medians[3] - medians[2]) / medians[2], abs=1e-4)
    assert figures["samples"] == 24 and figures["precise"] is True


def test_rounds_that_never_agree_stop_at_the_round_limit(monkeypatch):
    rounds = [[1.0 * 1.05 ** i] * 6 for i in range(20)]  # each round 5% slower: no two agree within 2%
    figures, _ = _timed(monkeypatch, [1.0] + [v for r in rounds for v in r])
    assert figures["rounds_done"] == run_bundle.MAX_ROUNDS == 8 and figures["p50_ms"] == pytest.approx(1.0)
    assert figures["round_spread"] == pytest.approx(0.05) and figures["precise"] is False
    assert figures["noisy"] is False  # 5% is within the protocol's cv_threshold of 10%
    figures, _ = _timed(monkeypatch, [1.0] + [v for r in rounds for v in r], rounds=4)  # the manifest's own limit
    assert figures["rounds_done"] == 4


def test_the_time_cap_ends_the_rounds(monkeypatch):
    # 100 ms a run, a 0.5 s cap: warm-up, then one round cut at MIN_SAMPLES once past the cap
    figures, script = _timed(monkeypatch, [100.0] * 50, max_seconds=0.5, repeats=10)
    assert figures["rounds_done"] == 1 and figures["samples"] == run_bundle.MIN_SAMPLES
    assert figures["precise"] is False and script.now == pytest.approx(0.6)


def test_a_noisy_figure_follows_the_workbench_rule(monkeypatch):
    rounds = [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1.3] * 6, [1.5] * 6] * 3
    figures, _ = _timed(monkeypatch, [1.0] + [v for r in rounds for v in r])
    assert figures["rounds_done"] == 4  # the fourth round (1.0 again) agrees with the first
    assert figures["noisy"] is False and figures["p50_ms"] == 1.0
    spread = [[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]] * 8  # cv 0.55 within each round
    figures, _ = _timed(monkeypatch, [1.0] + [v for r in spread for v in r])
    assert figures["noisy"] is True and figures["cv"] == pytest.approx(np.std([1, 1, 1, 2, 2, 2], ddof=1) / 1.5)


@pytest.mark.parametrize("machine,text,expected", [
    ("x86_64", "processor : 0\nflags : fpu sse avx avx2 avx512f avx512_vnni\nflags : other\n",
     {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx_vnni": False}),
    ("x86_64", "flags : fpu sse avx avx2 avx_vnni\n",
     {"avx2": True, "avx512f": False, "avx512_vnni": False, "avx_vnni": True}),
    ("x86_64", "flags : fpu sse sse2\n", {"avx2": False, "avx512f": False, "avx512_vnni": False, "avx_vnni": False}),
    ("aarch64", "processor : 0\nFeatures : fp asimd evtstrm asimddp i8mm\nCPU part : 0xd0b\n",
     {"neon": True, "asimd": True, "asimddp": True, "i8mm": True}),
    ("aarch64", "Features : fp asimd evtstrm crc32\n", {"neon": True, "asimd": True, "asimddp": False, "i8mm": False}),
    ("armv7l", "Features : half thumb vfp edsp neon vfpv3\n",
     {"neon": True, "asimd": False, "asimddp": False, "i8mm": False}),
    ("x86_64", "", {}),
])
def test_isa_facts_from_cpuinfo(machine, text, expected):
    assert run_bundle.isa_facts(text, machine) == expected


def test_cpu_model_reads_a_pi_model_line():
    assert run_bundle.cpu_model("Hardware : BCM2835\nModel : Raspberry Pi 5 Model B Rev 1.0\n") == \
        "Raspberry Pi 5 Model B Rev 1.0"
