"""bench history: a cell's medians over stored runs in commit order, with the steps found."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error

from bench.measure.measurement import Cell, Measurement
from bench.results.history import detect_steps
from bench.results.store import Store


def test_a_planted_step_is_found_where_it_starts_and_noise_alone_has_none() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        level = np.r_[np.full(8, 10.0), np.full(8, 10.8)] * rng.normal(1.0, 0.01, 16)
        ((index, before, after),) = detect_steps(list(level), threshold=0.05)
        assert index == 8 and after / before - 1 == pytest.approx(0.08, abs=0.02)
    assert detect_steps([10.0, 10.1, 13.0, 13.1], 0.05)[0][0] == 2  # a step of the last two runs
    assert len(detect_steps([10.0] * 5 + [12.0] * 5 + [10.0] * 5, 0.05)) == 2  # up, then back down
    false = sum(bool(detect_steps(list(10.0 * rng.normal(1.0, 0.01, 16)), 0.05)) for _ in range(50))
    assert false == 0
    assert detect_steps([10.0, 10.0, 20.0]) == []  # too short to tell a step from noise


def test_one_slow_run_is_not_a_step() -> None:
    medians = [10.0, 10.1, 9.9, 10.0, 14.0, 10.0, 10.1, 9.9, 10.0, 10.05]
    assert detect_steps(medians, 0.05) == []


@pytest.fixture
def history_store(tmp_path: Path) -> tuple[Path, list[str]]:
    """Twelve runs of one cell at twelve real commits of this repository, stored out of commit order,
    the latency 12% higher from the 7th commit on; plus a second cell without a step."""
    commits = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    chosen = commits.stdout.split()[-12:]
    path = tmp_path / "s.sqlite"
    store = Store(str(path))
    rng = np.random.default_rng(5)
    for position in rng.permutation(12):  # stored in a shuffled order: history sorts by commit
        run_id = store.start_run("pixel6", {"git_commit": chosen[position]}, [])
        level = 10.0 if position < 6 else 11.2
        for model, scale in (("m", level), ("other", 5.0)):
            cell = Cell(model, "tflite", "fp32", "litert", 1).on("pixel6")
            samples = tuple(scale * rng.normal(1.0, 0.01, 200))
            store.add_measurement(Measurement(cell, "ok", samples_ms=samples, run_id=run_id))
    return path, chosen


def test_bench_history_names_the_first_commit_of_the_step(bench_here, history_store) -> None:
    path, commits = history_store
    result = bench_here("history", "-m", "m", "--store", str(path), "--json")
    assert result.code == 0, result.stderr
    (history,) = json.loads(result.stdout)
    assert [p["commit"] for p in history["points"]] == commits
    (step,) = history["steps"]
    assert step["commit"] == commits[6] and step["change"] == pytest.approx(0.12, abs=0.02)
    table = bench_here("history", "--store", str(path))
    assert table.code == 0 and f"step at {commits[6][:12]}" in table.stdout and "other" in table.stdout


def test_history_of_nothing_stored_is_a_one_line_error(bench_here, history_store, tmp_path: Path) -> None:
    path, _ = history_store
    assert_one_line_error(bench_here("history", "-m", "nope", "--store", str(path)), "no stored measurement matches")
    assert_one_line_error(bench_here("history", "--store", str(tmp_path / "none.sqlite")), "no store")
    assert_one_line_error(bench_here("history", "--threshold", "x", "--store", str(path)), "--threshold")
    with sqlite3.connect(path) as db:
        assert db.execute("select count(*) from measurements").fetchone()[0] == 24  # nothing changed


@pytest.mark.slow
def test_report_plots_the_history_of_a_cell_stored_in_three_runs_and_none_for_fewer(bench_here, tmp_path: Path) -> None:
    """Six runs of cell 'm' (a 20% step from the fourth commit on) and two runs of cell 'few': the
    report's history section has one embedded plot, for 'm', with its step named."""
    commits = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    chosen = commits.stdout.split()[-6:]
    path = tmp_path / "s.sqlite"
    store = Store(str(path))
    rng = np.random.default_rng(3)
    for position, commit in enumerate(chosen):
        run_id = store.start_run("pixel6", {"git_commit": commit}, [])
        models = [("m", 10.0 if position < 3 else 12.0)] + ([("few", 5.0)] if position < 2 else [])
        for model, level in models:
            cell = Cell(model, "tflite", "fp32", "litert", 1).on("pixel6")
            store.add_measurement(Measurement(cell, "ok", samples_ms=tuple(level * rng.normal(1.0, 0.01, 100)),
                                              run_id=run_id))  # fmt: skip
    out = tmp_path / "report"
    result = bench_here("report", "--out", str(out), "--store", str(path))
    assert result.code == 0, result.stderr
    page = (out / "report.html").read_text()
    section = page[page.index('<h2 id="history">Latency history</h2>') :]
    section = section[: section.index("<h2>")]
    images = re.findall(r'<img class="history" alt="latency history of ([^"]*)" src="data:image/png;base64,', section)
    assert images == ["m tflite/fp32 litert x1 on pixel6"]
    assert f"step at <code>{chosen[3][:12]}</code>" in section and "(+20.0%)" in section
    assert "few" not in re.sub(r'src="data:[^"]*"', "", section)  # two runs: no plot, no mention
    assert (out / "history_m_tflite_fp32_litert_cpu_pixel6_1.png").stat().st_size > 5000


def test_a_history_with_a_zero_median_has_no_steps_instead_of_failing() -> None:
    assert detect_steps([0.0, 10.0, 10.0, 12.0, 12.0]) == []  # no logarithm of 0 ms: nothing to fit
