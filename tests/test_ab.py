"""``bench ab``: interleaved rounds of two versions, the paired verdict, and git worktrees of the user's repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, CliResult, assert_one_line_error, hog_on, last_cpu

from bench.cli.render import untested_text
from bench.measure.ab import paired_verdict, round_orders, rounds_needed

# --- the paired verdict on synthetic rounds -------------------------------------------------------------


def synthetic_rounds(seed: int, shift: float, rounds: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per-round medians (ms) of A and B on a noisy machine: a drift shared by both sides of a round
    (a neighbour's load, the clock: up to about +-20%) and 1% noise of each side's own; B = A x (1 + shift)."""
    rng = np.random.default_rng(seed)
    drift = np.exp(rng.normal(0, 0.1, rounds))
    a = 5.0 * drift * np.exp(rng.normal(0, 0.01, rounds))
    b = 5.0 * (1 + shift) * drift * np.exp(rng.normal(0, 0.01, rounds))
    return a, b


def test_a_known_5_percent_slowdown_is_a_regression_and_a_speedup_an_improvement() -> None:
    a, b = synthetic_rounds(1, 0.05)
    slower = paired_verdict(a, b, threshold=0.02, alpha=0.01)
    assert slower.verdict == "regression", slower
    assert slower.change == pytest.approx(0.05, abs=0.01)
    assert slower.change_ci[0] < 0.05 < slower.change_ci[1]
    assert slower.p_value < 0.01 and slower.rounds == 10
    faster = paired_verdict(b, a, threshold=0.02, alpha=0.01)
    assert faster.verdict == "improvement", faster
    assert faster.change == pytest.approx(1 / 1.05 - 1, abs=0.01)


def test_without_a_shift_false_regressions_over_200_seeds_stay_within_alpha() -> None:
    alpha = 0.01
    # threshold 0: only the test stands between noise and a regression
    verdicts = [paired_verdict(*synthetic_rounds(seed, 0.0), threshold=0.0, alpha=alpha).verdict for seed in range(200)]
    assert verdicts.count("regression") <= alpha * 200, verdicts.count("regression")
    # with the default 5% threshold, a shared drift of +-20% never makes one
    assert all(paired_verdict(*synthetic_rounds(seed, 0.0)).verdict != "regression" for seed in range(200))


def test_a_change_whose_ci_straddles_the_threshold_is_inconclusive() -> None:
    a = np.full(10, 4.0)
    b = a * np.array([1.01, 1.02, 1.03, 1.04, 1.044, 1.046, 1.05, 1.06, 1.07, 1.08])  # every round slower
    result = paired_verdict(a, b, threshold=0.05, alpha=0.01)
    assert result.p_value < 0.01 and result.change == pytest.approx(0.045)
    assert result.verdict == "inconclusive" and "straddles +5.0%" in result.reason


def test_too_few_complete_rounds_are_not_tested_with_the_reason() -> None:
    a, b = synthetic_rounds(2, 0.5, rounds=2)
    few = paired_verdict(a, b)
    assert few.verdict == "not-tested" and "2 complete rounds" in few.reason
    a, b = synthetic_rounds(2, 0.5, rounds=5)
    weak = paired_verdict(a, b, alpha=0.01)  # 5 rounds: the smallest two-sided p is 2/32
    assert weak.verdict == "not-tested" and f"--rounds {rounds_needed(0.01)}" in weak.reason
    assert weak.change == pytest.approx(0.5, abs=0.05)  # the numbers are still shown
    assert rounds_needed(0.01) == 8


def test_a_large_slowdown_with_too_few_rounds_still_fails_the_gate_and_dropped_rounds_are_said() -> None:
    a, b = synthetic_rounds(3, 1.0, rounds=3)  # 2x slower, but 3 rounds cannot reach p < 0.01
    slow = paired_verdict(a, b, threshold=0.05, dropped=1)
    assert slow.verdict == "not-tested" and slow.change_ci[0] > 0.05
    assert slow.untested_regression(0.05) and not slow.untested_regression(10.0)
    assert "3 rounds (1 dropped) cannot reach" in slow.reason and f"--rounds {rounds_needed(0.01) + 1}" in slow.reason
    two = paired_verdict(*synthetic_rounds(3, 1.0, rounds=2), threshold=0.05)  # no CI: the change decides
    assert two.change_ci is None and two.change == pytest.approx(1.0, abs=0.1) and two.untested_regression(0.05)
    same = paired_verdict(*synthetic_rounds(3, 0.0, rounds=3), threshold=0.05)
    assert same.verdict == "not-tested" and not same.untested_regression(0.05)
    # one file against itself on a busy CI runner: 3 rounds 5.5-7.8% apart are not a regression
    drift = paired_verdict([10.0, 10.0, 10.0], [10.55, 10.78, 10.62], threshold=0.05)
    assert drift.verdict == "not-tested" and drift.change_ci[0] > 0.05 and not drift.untested_regression(0.05)
    twelve = paired_verdict([10.0] * 3, [11.2, 11.5, 11.3], threshold=0.05)
    assert twelve.untested_regression(0.05)  # +12%
    assert untested_text(twelve, 0.05) == (
        "+13.0% (95% CI +12.0% .. +15.0%), more than 2x the 5% threshold with too few rounds to test; the gate fails"
    )
    assert not paired_verdict(*synthetic_rounds(3, 1.0, rounds=10)).untested_regression(0.05)  # tested: a regression


def test_an_abandoned_worktree_is_removed_and_a_live_ones_kept(repo: Path, tmp_path: Path) -> None:
    from bench.measure.revisions import WORKTREE_PREFIX, remove_abandoned

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trees = {}
    for name, owner in (("dead", int(dead.stdout)), ("live", os.getpid())):
        folder = tmp_path / f"{WORKTREE_PREFIX}{name}"
        folder.mkdir()
        (folder / "owner").write_text(str(owner))
        git(repo, "worktree", "add", "--detach", "--quiet", str(folder / "tree"), "HEAD")
        trees[name] = folder / "tree"
    assert remove_abandoned(repo) == [trees["dead"]]
    assert not trees["dead"].parent.exists() and trees["live"].is_dir()
    listed = git(repo, "worktree", "list")
    assert str(trees["dead"]) not in listed and str(trees["live"]) in listed


def test_round_orders_are_seeded_reproducible_and_mixed() -> None:
    first = round_orders(40, seed=7)
    assert first == round_orders(40, seed=7)
    assert set(first) == {"AB", "BA"}
    assert round_orders(40, seed=8) != first
    assert all(len(set(round_orders(10, seed))) == 2 for seed in range(5))  # both orders, seed after seed


# --- real runs ------------------------------------------------------------------------------------------

FAST = ["--min-runs", "10", "--min-time", "0", "--warmup", "1", "--max-time", "10"]

NET = textwrap.dedent(
    """
    import torch.nn as nn


    def make(width=8):
        return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))
    """
)


def bench(cwd: Path, results: Path, *args: str, tmp: Path | None = None, timeout: float = 300) -> subprocess.Popen:
    """``bench ARGS`` started in ``cwd`` with its own results folder (and temporary folder)."""
    env = {**os.environ, "BENCH_RESULTS": str(results), "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.Popen(
        [sys.executable, "-m", "bench.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> CliResult:
    stdout, stderr = proc.communicate(timeout=timeout)
    return CliResult(proc.returncode, stdout, stderr)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's git repository with one commit of ``net.py:make`` (a conv net of width 8)."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "net.py").write_text(NET)
    git(path, "add", "net.py")
    git(path, "commit", "-qm", "base")
    return path


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every living descendant of ``pid``, from /proc."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += [(c, commands[c]) for c in children]
        frontier += children
    return found


@pytest.mark.slow
def test_head_working_tree_with_a_wider_conv_is_a_regression(repo: Path, tmp_path: Path) -> None:
    (repo / "net.py").write_text(NET.replace("width=8", "width=32"))  # uncommitted: head = working tree
    temp = tmp_path / "tmp"
    temp.mkdir()
    summary = tmp_path / "summary.md"
    args = ["ab", "-m", "net.py:make", "--input-shape", "1,3,64,64", "--base", "HEAD", "--rounds", "8", "--seed", "1"]
    result = finish(bench(repo, tmp_path / "results", *args, *FAST, "--markdown", str(summary), "--json", tmp=temp))
    assert result.code == 1, result.stderr  # a regression
    data = json.loads(result.stdout)
    assert data["b"]["label"].startswith("working tree") and "local changes" in data["b"]["label"]
    assert data["a"]["revision"] == "HEAD" and data["orders"] == round_orders(8, 1)
    (cell,) = data["cells"]
    assert cell["verdict"] == "regression", cell
    assert cell["change"] > 0.5 and cell["rounds_complete"] == 8 and cell["p_value"] < 0.01
    assert cell["model_a"] != cell["model_b"] and cell["model_b"].startswith(str(repo.resolve()))
    assert "| regression | net.py:make" in summary.read_text()
    # the base worktree is gone: from git and from the disk
    assert git(repo, "worktree", "list").count("\n") == 1
    assert not [p for p in temp.iterdir() if p.name.startswith("bench-ab-")]
    # every round of both sides is stored, tagged with its side and round
    from bench.results.store import Store

    rows = Store(str(tmp_path / "results" / "bench.sqlite"), create=False).measurement_rows(data["run_id"])
    tags = sorted((r["settings"]["ab"]["side"], r["settings"]["ab"]["round"]) for r in rows)
    assert tags == sorted((side, i) for side in "ab" for i in range(8))


@pytest.mark.slow
def test_an_interrupted_ab_resumes_keeping_its_complete_rounds_and_refuses_other_versions(
    repo: Path, tmp_path: Path
) -> None:
    from bench.results.store import NoStoreError, Store

    (repo / "net.py").write_text(NET.replace("width=8", "width=32"))
    results, store = tmp_path / "results", tmp_path / "results" / "bench.sqlite"
    args = ["ab", "-m", "net.py:make", "--input-shape", "1,3,64,64", "--base", "HEAD", "--rounds", "8", *FAST]
    proc = bench(repo, results, *args)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(Store(str(store), create=False).measurement_rows()) >= 5:
                break
        except NoStoreError:  # the run has not made its store yet (or is writing its tables)
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stopped = finish(proc)
    assert stopped.code == 130 and "--resume" in stopped.stderr and "Traceback" not in stopped.stderr
    (run,) = Store(str(store), create=False).list_runs()
    assert run["status"] == "interrupted"
    before = Store(str(store), create=False).measurement_rows(run["run_id"])
    assert 5 <= len(before) < 16

    # other local changes are another version: refused, the run left resumable
    (repo / "net.py").write_text(NET.replace("width=8", "width=16"))
    other = finish(bench(repo, results, *args, "--resume"))
    assert_one_line_error(other, "unfinished bench ab run", "local changes) at")
    (repo / "net.py").write_text(NET.replace("width=8", "width=32"))
    # `bench run --resume` is not for A/B runs
    assert_one_line_error(finish(bench(repo, results, "run", "--resume")), "nothing to resume")

    # the same commit spelled otherwise is the same version
    sha = git(repo, "rev-parse", "HEAD").strip()
    # a setting typed beside --resume that differs from the run's is refused, shown as typed
    typed = finish(bench(repo, results, *args, "--resume", "--threshold", "3%"))
    assert_one_line_error(typed, "--threshold 3% conflicts with the recorded 5%")
    resumed = finish(bench(repo, results, *[sha if a == "HEAD" else a for a in args], "--resume", "--json"))
    assert resumed.code == 1, resumed.stderr  # the regression, judged on all 8 rounds
    data = json.loads(resumed.stdout)
    assert data["run_id"] == run["run_id"] and data["orders"] == run["settings"]["ab"]["orders"]
    (cell,) = data["cells"]
    assert cell["verdict"] == "regression" and cell["rounds_complete"] == 8
    assert data["rounds_resumed"] == len(before) // 2  # rounds with both versions measured are kept
    rows = Store(str(store), create=False).measurement_rows(run["run_id"])
    assert [r["id"] for r in rows[: len(before)]] == [r["id"] for r in before]  # nothing measured is lost
    assert len(rows) == len(before) + 2 * (8 - data["rounds_resumed"])
    assert [r["status"] for r in Store(str(store), create=False).list_runs()] == ["finished"]


@pytest.mark.slow
def test_a_killed_agent_drops_its_round_and_says_so(tiny_files, tmp_path: Path) -> None:
    model = str(tiny_files["onnx"])
    # one file against itself; the test is about the dropped round, not the verdict: with 3 complete rounds
    # a 6% drift between two agents of one file was read as REGRESSION (untested) in a CI run
    args = ["ab", "--a", model, "--b", model, "--rounds", "4", "--seed", "0", "--json", "--threshold", "60%"]
    proc = bench(ROOT, tmp_path / "results", *args, "--min-runs", "10", "--min-time", "0.2", "--warmup", "1")
    killed: list[int] = []

    def kill_second_agent() -> None:
        seen: list[int] = []
        while proc.poll() is None and not killed:
            for pid, command in descendants(proc.pid):
                if "agent.py" in command and pid not in seen:
                    seen.append(pid)
                    if len(seen) == 2:  # the second measurement of the first round dies
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_second_agent, daemon=True)
    watcher.start()
    result = finish(proc)
    watcher.join(5)
    assert killed, "no agent process was seen"
    assert result.code == 0, result.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    assert cell["rounds_complete"] == 3
    (dropped,) = cell["rounds_dropped"]
    assert dropped["round"] == 0 and dropped["reason"].endswith(": the agent was killed by SIGKILL (nothing on stderr)")
    assert "dropped round 1/4" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_rounds_that_ran_beside_a_co_runner_are_shown_in_the_table_json_and_summary(tiny_files, tmp_path: Path) -> None:
    model, summary = str(tiny_files["onnx"]), tmp_path / "summary.md"
    hog = hog_on(last_cpu(), 900.0)  # on the CPU the agents run on, for the whole run (killed below)
    try:
        # one file against itself: the hog may slow one side's rounds by 20% or more, which is what the
        # contended flag is for; this test is about showing it, so the gate's threshold is set above that
        args = ["ab", "--a", model, "--b", model, "--rounds", "3", "--seed", "1", "--markdown", str(summary),
                "--threshold", "60%"]  # fmt: skip
        result = finish(bench(ROOT, tmp_path / "results", *args, "--json", "--min-runs", "10", "--min-time", "0.3"))
        table = finish(bench(ROOT, tmp_path / "results", *args, "--min-runs", "10", "--min-time", "0.3"))
    finally:
        hog.kill()
    assert result.code == 0 and table.code == 0, result.stderr + table.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    assert [r["round"] for r in cell["rounds_contended"]] == [0, 1, 2]
    assert all(r["others_share"]["a"] > 0.1 and r["others_share"]["b"] > 0.1 for r in cell["rounds_contended"])
    assert "3 of 3 rounds ran while other processes used the measured CPUs (round 1: A " in result.stderr
    assert "contended: " in table.stdout and "3 of 3 rounds ran while" in " ".join(table.stdout.split())
    assert "| contended |" in summary.read_text() and "round 3: A " in summary.read_text()


def test_a_revision_that_does_not_exist_exits_2_naming_it(repo: Path, tmp_path: Path) -> None:
    result = finish(bench(repo, tmp_path / "results", "ab", "-m", "net.py:make", "--base", "no-such-branch"))
    assert_one_line_error(result, "--base 'no-such-branch'", "no such revision")
    outside = tmp_path / "plain"
    outside.mkdir()
    result = finish(bench(outside, tmp_path / "results", "ab", "-m", "net.py:make", "--base", "HEAD"))
    assert_one_line_error(result, "not in a git repository")


def test_a_resume_keeps_only_rounds_whose_two_versions_one_attempt_measured(tmp_path: Path) -> None:
    from bench.measure.ab import _kept_rounds, _tagged
    from bench.measure.measurement import Cell, Measurement
    from bench.measure.revisions import Version
    from bench.results.store import Store

    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [])
    cell, versions = Cell("m.onnx", "onnx", "fp32", "onnxruntime", 1).on("host"), {s: Version(s, s) for s in "ab"}

    def stored(index: int, side: str, attempt: str, ok: bool = True) -> None:
        failed = Measurement.failed(cell, {}, "died", 0.0, 0.0)
        measured = Measurement(cell, "ok", samples_ms=(1.0, 1.1)) if ok else failed
        store.add_measurement(_tagged(measured, run_id, versions[side], side, index, "AB", "m", attempt))

    stored(0, "a", "first")
    stored(0, "b", "first")  # round 0: one attempt measured both: kept
    stored(1, "a", "first")  # round 1: A by the first attempt, B by the second: measured again
    stored(1, "a", "second", ok=False)
    stored(1, "b", "second")
    stored(2, "a", "second")  # round 2: A only: measured again
    kept = _kept_rounds(store, run_id, ["m"])
    assert set(kept) == {("m", 0)}
    assert [m.median_ms for m in kept["m", 0]] == [pytest.approx(1.05)] * 2


def test_the_digest_of_local_changes_reads_files_that_are_not_utf8(repo: Path) -> None:
    from bench.measure.revisions import local_changes

    assert local_changes(repo) is None
    (repo / "net.py").write_bytes(NET.encode() + "# caf\xe9\n".encode("latin-1"))
    first = local_changes(repo)
    assert first is not None and len(first) == 12
    (repo / "net.py").write_bytes(NET.encode() + b"# cafe\n")
    assert local_changes(repo) not in (None, first)  # other changes, another digest


def test_a_threshold_typed_as_a_bare_percentage_is_refused_with_what_to_write() -> None:
    from bench.cli.options import fraction
    from bench.errors import BenchError

    assert fraction("5%", "--threshold") == fraction("0.05", "--threshold") == pytest.approx(0.05)
    with pytest.raises(
        BenchError, match=r"^--threshold '5' must be between 0 and 100% \(5 reads as 500%: write 5% or 0\.05\)$"
    ):
        fraction("5", "--threshold")
    with pytest.raises(BenchError, match=r"^--threshold '150%' must be between 0 and 100%$"):
        fraction("150%", "--threshold")
