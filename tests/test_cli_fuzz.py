"""Every command with generated option values (hostile numbers, strings and paths), in-process
through the CLI's entry point: exit 0, 1, 2 or 130 only, never a traceback, an error of one line
of at most 300 characters, and nothing changed on disk (store included) when the exit is 2.

The values are chosen so that no call does long real work: models never name a zoo model or an
existing model file, farm addresses and ports are never ones that could be served.
"""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main

CALL_LIMIT_S = 20  # one call that takes longer is a hang (e.g. a server that started listening)

NUMBERS = ["nan", "NaN", "inf", "-inf", "-1", "0", "-0", "1", "2", "0.5", "1e308", "-1e308", "99999999999",
           "1000000000", "1e-12", "0x10", "", " 3", "1,2", "5%", "-5%", "1e999", "3.0", "65536", "99999"]  # fmt: skip
HOSTILE = ['"quoted"', "it's", "a\nb", "nul\x00x", "$(touch pwned)", "`id`", "../../etc/passwd", "\udcff\udcfe",
           "<script>alert(1)</script>", "x" * 400, "; rm -rf pwned", "-", "%s%n", "\x1b[31mred\x1b[0m", " ", "",
           "\r\n", "café", "a,b,,c", "*", "host", "onnx", "fp32", "tflite", "int8", "fp16"]  # fmt: skip

usual = st.sampled_from(["1", "2", "3", "0.5", "0.2"])  # so that calls get past one bad value to the next check
numbers = st.one_of(
    usual,
    usual,
    st.sampled_from(NUMBERS),
    st.integers(-(10**15), 10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))
# never a zoo model, a pattern matching one, or a real model file: nothing gets exported or measured
models = texts.map(lambda t: "zz" + t)


class Hang(BaseException):
    """A call ran past CALL_LIMIT_S."""


class World:
    """A folder with a store holding one ingested measurement, files of every kind and the working directory."""

    def __init__(self, root: Path):
        self.root = root
        self.cwd = root / "w" / "x" / "y"  # '../../' stays inside the world
        self.cwd.mkdir(parents=True)
        self.results = root / "results"
        self.devices = root / "devices"
        self.devices.mkdir()
        (self.devices / "lab.toml").write_text('name = "lab-board"\ntransport = "local"\n')
        (self.devices / "broken.toml").write_bytes(b'name = "\xff\xfe"\n')
        self.store = root / "store.sqlite"
        self.folder = root / "folder"
        self.folder.mkdir()
        self.text = root / "notes.txt"
        self.text.write_text("not a database, not a log\n")
        self.binary = root / "binary.bin"
        self.binary.write_bytes(b"\xff\xfe\x00\x81garbage\x00")
        self.nan_json = root / "nan.json"
        self.nan_json.write_text(json.dumps([_record(float("nan"))]))
        self.text_json = root / "text.json"
        self.text_json.write_text(json.dumps([_record("fast")]))
        self.good_json = root / "good.json"
        self.good_json.write_text(json.dumps([_record(10.0)]))
        self.log = root / "run.log"
        from test_tool_output import MONSOON, PLAIN

        self.log.write_text(PLAIN)
        self.monsoon = root / "power.csv"
        self.monsoon.write_text(MONSOON)
        self.foreign = root / "foreign.sqlite"
        with sqlite3.connect(self.foreign) as db:
            db.execute("create table measurements (who text, what integer)")
            db.execute("insert into measurements values ('someone', 1)")
        self.missing = root / "missing" / "parent" / "x.csv"

    def paths(self) -> list[str]:
        return [str(p) for p in (self.store, self.folder, self.text, self.binary, self.nan_json, self.text_json,
                                 self.good_json, self.log, self.monsoon, self.foreign, self.missing,
                                 self.root / "nothing-here", self.devices / "lab.toml",
                                 self.devices / "broken.toml")]  # fmt: skip

    def snapshot(self) -> dict[str, object]:
        """Every file under the world (the SQLite files by their rows) and its content."""
        state: dict[str, object] = {}
        for path in sorted(self.root.rglob("*")):
            if path.name.endswith(("-wal", "-shm", "-journal")) or path.is_dir():
                continue
            if path.suffix == ".sqlite":
                try:
                    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                        state[str(path)] = list(db.iterdump())
                    continue
                except sqlite3.Error:
                    pass
            state[str(path)] = path.read_bytes()
        return state


def _record(median) -> dict:
    return {"model": "m", "format": "onnx", "precision": "fp32", "runtime": "onnxruntime", "device": "host",
            "threads": 1, "repeat": 0, "status": "ok", "median_ms": median, "samples_ms": [median] * 5}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    world = World(tmp_path_factory.mktemp("fuzz"))
    with pytest.MonkeyPatch.context() as mp:
        _environment(mp, world)
        code, _, err = invoke(["ingest", str(world.log), "--tool", "benchmark_model", "--device", "zzdev",
                               "-m", "zzmodel", "--store", str(world.store)])  # fmt: skip
        assert code == 0, err
    return world


def _environment(mp: pytest.MonkeyPatch, world: World) -> None:
    mp.chdir(world.cwd)
    mp.setenv("BENCH_RESULTS", str(world.results))
    mp.setenv("BENCH_DEVICES", str(world.devices))
    mp.setenv("BENCH_CONFIG", str(world.root / "no-config.toml"))
    mp.setenv("BENCH_STORE", str(world.store))


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    _environment(monkeypatch, world)
    return world


def invoke(argv: list[str]) -> tuple[int, str, str]:
    """``bench ARGV`` in this process, as the console script runs it: (exit code, stdout, stderr).

    stdout is strict UTF-8 and stderr backslash-replaces, as Python sets them up in a UTF-8 locale."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace", write_through=True)
    saved = sys.argv, sys.stdout, sys.stderr

    def hang(*_: object) -> None:
        raise Hang(f"bench {argv!r} ran longer than {CALL_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, hang)
    sys.argv, sys.stdout, sys.stderr = ["bench", *argv], out, err
    signal.alarm(CALL_LIMIT_S)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv, sys.stdout, sys.stderr = saved
    return code, out_bytes.getvalue().decode("utf-8", "replace"), err_bytes.getvalue().decode("utf-8", "replace")


NUMERIC = {"--alpha", "--chunk", "--ci-target", "--cooldown", "--depth", "--idle-w", "--inferences", "--interval-ms",
           "--max-runs", "--max-time", "--min-runs", "--min-time", "--repeats", "--runs", "--sustained", "--threads",
           "--threshold", "--warmup", "--port"}  # fmt: skip


def non_finite(value: str) -> bool:
    """A value that parses as a float and is NaN or infinite (``nan``, ``-inf``, ``1e999``)."""
    try:
        number = float(value.strip().rstrip("%"))
    except ValueError:
        return False
    return number != number or number in (float("inf"), float("-inf"))


def check(world: World, argv: list[str]) -> None:
    """Run ``bench ARGV`` and assert the contract every command keeps; a numeric option given NaN or
    an infinity is bad input (exit 2) whatever else the call says."""
    before = world.snapshot()
    code, _, err = invoke(argv)
    assert code in (0, 1, 2, 130), (argv, code, err)
    bad_number = any(f in NUMERIC and non_finite(v) for f, v in zip(argv, argv[1:], strict=False))
    if bad_number and "--help" not in argv:
        assert code == 2, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and len(lines[0]) <= 300, (argv, err)
        assert "\x1b" not in lines[0], (argv, err)
        assert world.snapshot() == before, (argv, err)  # nothing written, the store untouched


def opt(flag: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """``[]`` (three times in four: a call has a few options, so it gets past one check to the next) or
    ``[flag, value]``."""
    return st.sampled_from([False, False, False, True]).flatmap(
        lambda given: values.map(lambda v: [flag, v]) if given else st.just([])
    )


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([[], [name]])


def command(*parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda groups: [arg for group in groups for arg in group])


FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


def paths(world_paths: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(world_paths), texts)


def outputs(world: World) -> st.SearchStrategy[str]:
    """Where a command may write: the world's paths, or a relative name inside the working directory."""
    names = st.text(st.characters(blacklist_characters="/\\."), max_size=15).map(lambda t: "o-" + t)
    return st.one_of(st.sampled_from(world.paths()), names, st.sampled_from(["../../o.csv", "o.csv", "."]))


def stores(world: World) -> st.SearchStrategy[list[str]]:
    urls = ["nosuchdb://x/y", "sqlite:///" + str(world.missing), "postgresql://u@127.0.0.1:1/db", "sqlite://"]
    return opt("--store", st.one_of(st.sampled_from(world.paths()), st.sampled_from(urls), texts))


# --- the commands --------------------------------------------------------------------------------


@pytest.mark.slow
@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_fuzz_results_and_baselines(env: World, data: st.DataObject) -> None:
    out = outputs(env)
    argv = data.draw(
        st.one_of(
            command(
                st.just(["results"]),
                opt("--format", st.sampled_from(["table", "csv", "json", "parquet", "xml"]) | texts),
                opt("--out", out),
                opt("--run", texts),
                stores(env),
            ),
            command(st.just(["baseline", "save"]), texts.map(lambda t: [t]), opt("--run", texts), stores(env)),
            st.just(["baseline", "list"]),
        )
    )
    check(env, argv)


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_fuzz_compare(env: World, data: st.DataObject) -> None:
    refs = st.one_of(paths(env.paths()), st.sampled_from([str(env.nan_json), str(env.text_json), str(env.good_json)]))
    argv = data.draw(
        command(
            st.just(["compare"]),
            refs.map(lambda r: ["--baseline", r]),
            refs.map(lambda r: ["--candidate", r]),
            opt("--threshold", numbers),
            opt("--alpha", numbers),
            opt("--markdown", outputs(env)),
            flag("--strict"),
            stores(env),
        )
    )
    check(env, argv)


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_fuzz_report(env: World, data: st.DataObject) -> None:
    argv = data.draw(
        command(
            st.just(["report"]),
            opt("--out", outputs(env)),
            texts.map(lambda t: ["--device", t]),  # never the stored device: no plots are drawn
            opt("--runtime", texts),
            opt("--accuracy", paths(env.paths())),
            stores(env),
        )
    )
    check(env, argv)


@settings(FUZZ, max_examples=350)
@given(data=st.data())
def test_fuzz_ingest(env: World, data: st.DataObject) -> None:
    tools = st.sampled_from(["benchmark_model", "onnxruntime_perf_test", "monsoon", "tegrastats", "powermetrics"])
    argv = data.draw(
        command(
            st.just(["ingest"]),
            st.one_of(st.sampled_from([str(env.log), str(env.monsoon)]), paths(env.paths())).map(lambda p: [p]),
            st.one_of(tools, texts).map(lambda t: ["--tool", t]),
            texts.map(lambda t: ["--device", "zz" + t]),
            models.map(lambda m: ["-m", m]),
            opt("--format", st.one_of(st.sampled_from(["onnx", "tflite"]), texts)),
            opt("--runtime", texts),
            opt("--precision", texts),
            opt("--threads", numbers),
            opt("--inferences", numbers),
            opt("--idle-w", numbers),
            opt("--run", numbers),
            opt("--interval-ms", numbers),
            flag("--json"),
            stores(env),
        )
    )
    check(env, argv)


@settings(FUZZ, max_examples=350)
@given(data=st.data())
def test_fuzz_run(env: World, data: st.DataObject) -> None:
    missing_files = st.sampled_from([str(env.root / "none.onnx"), str(env.root / "none.tflite"), "zz.onnx"])
    argv = data.draw(
        command(
            st.just(["run"]),
            st.one_of(models, missing_files).map(lambda m: ["-m", m]),  # never a model that runs
            opt("--device", st.one_of(st.just("host"), texts)),
            opt("--device-file", paths(env.paths())),
            opt(
                "--farm",
                st.sampled_from(
                    ["tcp://127.0.0.1:notaport", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:-1", "tcp://:x", "$(id)"]
                ),
            ),
            opt("--format", texts),
            opt("--runtime", texts),
            opt("--precision", texts),
            opt("--threads", numbers),
            opt("--warmup", numbers),
            opt("--min-runs", numbers),
            opt("--min-time", numbers),
            opt("--max-runs", numbers),
            opt("--max-time", numbers),
            opt("--ci-target", numbers),
            opt("--repeats", numbers),
            opt("--cooldown", numbers),
            opt("--sustained", numbers),
            opt("--chunk", numbers),
            opt("--option", texts),
            flag("--resume"),
            opt("--rapl-root", paths(env.paths())),
            opt("--thermal-root", paths(env.paths())),
            flag("--json"),
            stores(env),
        )
    )
    check(env, argv)


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_fuzz_export_models_and_flops(env: World, data: st.DataObject) -> None:
    argv = data.draw(
        st.one_of(
            command(
                st.just(["export"]),
                models.map(lambda m: [m]),  # always named: no default suite
                opt("--format", texts),
                opt("--precision", texts),
                opt("--out", outputs(env)),
                opt("--weights", paths(env.paths())),
                opt("--input-shape", st.one_of(numbers, texts)),
                flag("--json"),
            ),
            command(
                st.just(["accuracy"]),
                models.map(lambda m: [m]),
                opt("--data", paths(env.paths())),
                opt("--labels", paths(env.paths())),
                opt("--format", texts),
                opt("--precision", texts),
                opt("--calibration", paths(env.paths())),
                opt("--io", texts),
                opt("--limit", numbers),
                opt("--batch", numbers),
                opt("--max-drop", numbers),
                opt("--mean", texts),
                opt("--crop-pct", numbers),
                opt("--interpolation", texts),
                flag("--json"),
                stores(env),
            ),
            command(st.just(["models"]), models.map(lambda m: [m]), opt("--suite", texts), flag("--json")),
            command(st.just(["flops"]), models.map(lambda m: [m]), opt("--depth", numbers), flag("--json")),
        )
    )
    check(env, argv)


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_fuzz_devices_profile_and_farm(env: World, data: st.DataObject) -> None:
    bad_ports = st.one_of(st.sampled_from(["-1", "65536", "99999", "1e3", "nan", "x"]),
                          st.integers(65536, 10**12).map(str), st.integers(-(10**12), -1).map(str))  # fmt: skip
    argv = data.draw(
        st.one_of(
            command(st.just(["devices"]), opt("--probe", texts), opt("--device-file", paths(env.paths()))),
            command(
                st.just(["profile"]),
                models.map(lambda m: [m]),
                opt("--device", texts),
                opt("--device-file", paths(env.paths())),
                opt("--format", texts),
                opt("--runtime", texts),
                opt("--threads", numbers),
                opt("--runs", numbers),
                opt("--depth", numbers),
                flag("--json"),
            ),
            command(st.just(["farm", "scheduler"]), opt("--host", texts), bad_ports.map(lambda p: ["--port", p])),
            command(
                st.just(["farm", "worker"]),
                st.sampled_from(["tcp://127.0.0.1:notaport", "tcp://127.0.0.1:99999", "tcp://:x"]).map(
                    lambda a: ["--scheduler", a]
                ),
                texts.map(lambda t: ["--device", "zz" + t]),
            ),
            st.sampled_from([["--version"], ["--help"], [], ["nosuchcommand"], ["run", "--help"]]),
        )
    )
    check(env, argv)
