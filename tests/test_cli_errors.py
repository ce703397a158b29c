"""#17 item 13: names are checked as the message says, echoed values are short and printable, a run
or model file that does not exist is bad input (exit 2) and leaves nothing in the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import CliResult, assert_one_line_error
from test_cli_fuzz import invoke
from test_tool_output import PLAIN as PLAIN_LOG

from bench.errors import one_line


def cli(*argv: str) -> CliResult:
    return CliResult(*invoke(list(argv)))


def ingested_store(tmp_path: Path) -> Path:
    log, store = tmp_path / "run.log", tmp_path / "s.sqlite"
    log.write_text(PLAIN_LOG)
    result = cli("ingest", str(log), "--tool", "benchmark_model", "--device", "p", "-m", "m", "--store", str(store))
    assert result.code == 0, result.stderr
    return store


def rows(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("select id, run_id, model, status from measurements order by id").fetchall()


def test_baseline_names_are_letters_digits_dash_underscore(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "results"))
    store = ingested_store(tmp_path)
    for name in ["a\nb", "<script>x</script>", "x" * 65, "../up", ".hidden", ""]:
        assert_one_line_error(cli("baseline", "save", name, "--store", str(store)), "bad baseline name")
    assert not (tmp_path / "results" / "baselines").exists() or not any((tmp_path / "results/baselines").iterdir())
    assert cli("baseline", "save", "main-2_x", "--store", str(store)).code == 0


def test_a_huge_value_is_not_echoed_in_full_and_control_characters_are_escaped() -> None:
    result = cli("results", "--format", "x" * 5_000_000)
    assert_one_line_error(result, "unknown results format 'xxxxxxxx", "(5000000 characters)")
    assert len(result.stderr.strip()) <= 300
    colour = cli("results", "--format", "\x1b[31mred\nline")
    assert_one_line_error(colour, "\\x1b[31mred\\nline")
    assert "\x1b" not in colour.stderr
    long_sentence = "word " * 200
    assert len(one_line(long_sentence)) <= 300 and one_line("a\x00b") == "a\\x00b"


def test_results_of_a_run_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    store = ingested_store(tmp_path)
    assert_one_line_error(cli("results", "--run", "nosuchrun", "--store", str(store)), "no run 'nosuchrun'")
    assert_one_line_error(cli("baseline", "save", "b", "--run", "nosuchrun", "--store", str(store)), "no run")


def test_a_missing_model_file_is_exit_2_and_stores_nothing(tmp_path: Path) -> None:
    store = ingested_store(tmp_path)
    before = rows(store)
    missing = str(tmp_path / "nowhere" / "model.onnx")
    assert_one_line_error(cli("run", "-m", missing, "--store", str(store)), "model file not found", missing)
    assert rows(store) == before and len(before) == 1


def test_store_passwords_are_hidden_in_messages_and_in_the_recorded_command(tmp_path: Path) -> None:
    from bench.results.store import Store, hide_secrets

    assert hide_secrets("postgresql://bob:s3cret@db:5432/bench") == "postgresql://bob:***@db:5432/bench"
    assert hide_secrets("postgresql://u:p@ss@db/bench") == "postgresql://u:***@db/bench"  # an @ in the password
    assert hide_secrets("postgresql://u@db/bench?password=sec&sslmode=require").count("sec&") == 0
    assert hide_secrets("sqlite:////tmp/a:b@c.sqlite") == "sqlite:////tmp/a:b@c.sqlite"  # a path, not a password
    store = Store(str(tmp_path / "s.sqlite"))
    store.start_run("host", {}, [], "run -m a.onnx --store postgresql://bob:s3cret@db/bench")
    (run,) = store.list_runs()
    assert "s3cret" not in run["argv"] and "bob:***@db" in run["argv"]


def test_sigterm_becomes_an_interrupt_but_a_signal_ignored_by_nohup_stays_ignored() -> None:
    import signal

    from bench.cli.app import terminate_as_interrupt

    before, term = signal.signal(signal.SIGHUP, signal.SIG_IGN), signal.getsignal(signal.SIGTERM)
    try:
        with terminate_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) == term  # put back
    finally:
        signal.signal(signal.SIGHUP, before)
