"""bench profile: runtime profiles mapped back to model blocks, for every family; sustained mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import assert_one_line_error, cpu_time_s, share_zoo_artifacts

from bench.profiling.blocks import TOP_LEVEL, hierarchy

if TYPE_CHECKING:
    from bench.profiling.profile import Profile

# one model per family, with blocks we expect to see by name at depth 1
FAMILIES = {
    "edgevit_xxs": ["patch_embed1", "blocks1.0", "blocks4.1", "head"],
    "shiftvit_tiny_light": ["patch_embed", "layers.0", "layers.3", "head"],
    "stvit_deit_tiny": ["patch_embed", "blocks.0", "head"],
    "ast_xxs": ["patch_embed.0", "stages.0", "stages.3", "head"],
    "vast_tiny": ["patch_embed.0", "stages.0", "stages.3", "head"],
    # the baselines: transformer, convnet, hybrid (its zero-initialised branches must survive export)
    "deit_tiny_patch16_224": ["patch_embed", "blocks.0", "blocks.11", "head"],
    "mobilenetv2_100": ["bn1", "blocks.0.0", "blocks.6.0", "classifier"],
    "mobilevit_xxs": ["stem", "stages.0.0", "stages.1.2", "stages.4.1", "head"],
}


@pytest.fixture(scope="module")
def shared_results(tmp_path_factory, zoo_artifacts):
    """One results folder for the module; zoo artifacts come from the session's cache."""
    folder = share_zoo_artifacts(tmp_path_factory.mktemp("profile-results"), zoo_artifacts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_RESULTS", str(folder))
        yield folder


@pytest.fixture(scope="module")
def profiles(shared_results) -> dict:
    """Local profiles this module made, by (model, runtime): a later test reads one instead of profiling again."""
    return {}


@pytest.mark.parametrize("model", FAMILIES)
def test_blocks_follow_the_forward_order(model: str) -> None:
    import models

    card = models.get_card(model)
    tree = hierarchy(models.create_model(model), card.input_shape, depth=1)
    for expected in FAMILIES[model]:
        assert expected in tree.blocks, tree.blocks
    assert tree.blocks.index(FAMILIES[model][0]) < tree.blocks.index(FAMILIES[model][-1])
    assert tree.block_of(tree.blocks[1] + ".anything.below") == tree.blocks[1]
    assert tree.block_of("") == TOP_LEVEL


# The blocks must add up to the whole model timed without the profiler. Both numbers are medians
# over interleaved plain and profiled runs, which holds on a quiet CPU. On a contended one the sum
# of per-kernel medians stays near the unpreempted time (each run's preemptions land in a few
# kernels, whose medians drop them) while the median whole run grows by the time spent waiting for
# a CPU: with the CPUs 95% busy MobileViT-XXS gave 0.17 on onnxruntime and 0.53-0.72 on LiteRT;
# a loaded CI runner gave 1.116. So each round also records w, the seconds the profiling thread
# waited runnable for a CPU per second it ran (run-queue time in /proc schedstat), and is held to
# ADD_UP_BOUND widened by it: [low / (1 + 2w), high * (1 + w)] (2w: the timed runs can see twice the
# whole call's contention; measured 4.5 in them against 3.45 over the call). On a quiet machine
# (w near 0) that is the tight bound. A round outside its bound is measured again before the test
# fails (at most ADD_UP_ROUNDS), so it fails only when every round misses, as an attribution bug
# (a block lost or counted twice, every run summed instead of one) makes every round miss.
# The strict goal on a quiet machine (0.9-1.1) is measured by benchmarks/profile_add_up.py. The test's
# bound comes from the spread measured on quiet machines on different days: 0.836-1.116 over the 15
# cases (LiteRT is low by its dispatch time between XNNPACK operators, which no operator reports:
# EdgeViT-XXS 0.84-0.92, MobileViT-XXS 0.88-0.96 from one day to the next; on 2026-11-30, quiet,
# CPU wait <= 0.004: EdgeViT-XXS 0.75-0.79, STViT-DeiT-T 0.75-0.86). LiteRT's low bound is 0.7 for
# that. A lost or double-counted block is caught by the block assertions below, a sum over every run
# (x20) by the ratio.
ADD_UP_BOUND = {"onnxruntime": (0.8, 1.2), "litert": (0.7, 1.2)}  # blocks / total, a CPU to itself
ADD_UP_ROUNDS = 3


def add_up_round(profile: Profile, runtime: str, wait: float) -> dict:
    """One round's blocks / total ratio, its CPU wait per second run ``wait`` and the bound it is held to."""
    ratio = profile.blocks_ms / profile.total_ms
    low, high = ADD_UP_BOUND[runtime]
    bound = (low / (1 + 2 * wait), high * (1 + wait))
    return {"ratio": round(ratio, 4), "wait": round(wait, 4), "bound": tuple(round(x, 4) for x in bound),
            "ok": bound[0] <= ratio <= bound[1]}  # fmt: skip


def profile_round(model: str, runtime: str, runs: int, depth: int = 1) -> tuple[Profile, dict]:
    """A fresh profile of ``model`` on ``runtime`` and its round (see ``add_up_round``)."""
    from bench.profiling.profile import profile_model

    run0, wait0 = cpu_time_s()
    profile = profile_model(model, runtime, runs=runs, depth=depth)
    run1, wait1 = cpu_time_s()
    return profile, add_up_round(profile, runtime, (wait1 - wait0) / max(run1 - run0, 1e-9))


# VAST and AST share every module (VAST swaps 2-D for 3-D pointwise layers and adds time shifts):
# AST-XXS covers the family on both runtimes, the video model VAST-T runs on onnxruntime only
# (on LiteRT it alone took 48 s of the suite).
ADD_UP = [(m, r) for m in FAMILIES for r in ("onnxruntime", "litert") if (m, r) != ("vast_tiny", "litert")]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "runtime"), ADD_UP)
def test_block_times_add_up_to_the_measured_total(model: str, runtime: str, profiles: dict) -> None:
    runs = 10 if model == "vast_tiny" else 20  # VAST-T: 0.34 s a run
    profile, first = profile_round(model, runtime, runs)
    profiles[model, runtime] = profile
    rounds = [first]
    while not rounds[-1]["ok"] and len(rounds) < ADD_UP_ROUNDS:  # measure again before failing
        rounds.append(profile_round(model, runtime, runs)[1])
    print("add-up rounds:", rounds)
    assert rounds[-1]["ok"], rounds
    timed = {b.block for b in profile.blocks if b.ms > 0}
    # every expected block got operators and time (litert-torch names the output layer after the model itself)
    expected = set(FAMILIES[model]) - ({FAMILIES[model][-1]} if runtime == "litert" else set())
    assert expected <= timed, profile.blocks
    if runtime == "litert":  # nodes XNNPACK left to the builtin kernels, each with its block
        assert all(f["block"] in timed and f["delegate"] == "XNNPACK" for f in profile.fallback), profile.fallback
        assert f"XNNPACK left {len(profile.fallback)} of" in profile.note
    if (model, runtime) == ("edgevit_xxs", "litert"):  # its sparse-attention sampler and concatenations
        assert {"AVERAGE_POOL_2D", "CONCATENATION"} <= {f["type"] for f in profile.fallback}
    heavy = [b for b in profile.blocks if b.macs > 0.02 * sum(x.macs for x in profile.blocks)]
    assert all(b.ms > 0 for b in heavy)
    top = next((b for b in profile.blocks if b.block == TOP_LEVEL), None)
    assert top is None or top.share < 0.2, top  # nearly everything is attributed to a block
    assert abs(sum(b.share for b in profile.blocks) - 1) < 1e-9


# STViT-R on Swin: stage 3 of Swin-T is a Swin block, the block that pools each window's semantic
# tokens and recovers them by attention (SemanticAttentionBlock), then four blocks on the semantic
# tokens (SemanticTokenBlock, the last with the multi-scale recovery). At depth 2 each is a block of
# its own, timed, and the blocks still add up to the whole model.
SWIN_STAGE3 = ["layers.2.blocks.0", "layers.2.blocks.1", "layers.2.blocks.2", "layers.2.blocks.3",
               "layers.2.blocks.4", "layers.2.blocks.5"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "litert"])
def test_stvit_swin_semantic_token_blocks_are_blocks_of_their_own_and_add_up(runtime: str, shared_results) -> None:
    rounds = [profile_round("stvit_swin_tiny", runtime, 10, depth=2)]
    while not rounds[-1][1]["ok"] and len(rounds) < ADD_UP_ROUNDS:
        rounds.append(profile_round("stvit_swin_tiny", runtime, 10, depth=2))
    assert rounds[-1][1]["ok"], [r for _, r in rounds]
    blocks = {b.block: b for b in rounds[-1][0].blocks}
    assert all(blocks[name].ms > 0 for name in SWIN_STAGE3), {n: blocks.get(n) for n in SWIN_STAGE3}
    # 16 semantic tokens per window instead of 49 image tokens: each token block costs less than the Swin block
    assert all(blocks[name].macs < 0.6 * blocks["layers.2.blocks.0"].macs for name in SWIN_STAGE3[2:5])


@pytest.mark.slow
def test_profile_json_is_the_only_stdout(bench_cli, tiny_files) -> None:
    result = bench_cli("profile", f"{tiny_files['source']}:tiny", "--format", "onnx", "--runs", "5", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total_ms"] > 0 and data["blocks"]
    assert {"block", "ms", "share", "macs"} <= set(data["blocks"][0])


@pytest.mark.slow
def test_unsupported_profiling_names_the_runtimes_that_support_it(bench_here) -> None:
    assert_one_line_error(
        bench_here("profile", "edgevit_xxs", "--runtime", "coreml"), "not supported by coreml", "onnxruntime, litert"
    )
    assert_one_line_error(
        bench_here("profile", "edgevit_xxs", "--device", "pixel6"), "onnxruntime_perf_test", "[runtimes]", "pixel6.toml"
    )
    assert_one_line_error(bench_here("profile", "edgevit_xxs", "--device", "pixel6", "-f", "pytorch"), "this machine")
    assert_one_line_error(bench_here("profile", "nosuchnet", "--format", "onnx"), "nosuchnet")


@pytest.mark.slow
def test_sustained_run_on_a_heating_phone_flags_throttling_and_the_report_shows_it(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    (emulated_pixel.root / "sim/throttle.json").write_text(json.dumps({"after_s": 4.0, "slowdown": 1.8, "status": 3}))
    store = str(tmp_path / "s.sqlite")
    result = bench_cli("run", "--device-file", str(emulated_pixel.profile), "-m", str(tiny_files["tflite"]),
                       "--sustained", "9", "--chunk", "1", "--store", store, "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    run = row["thermal"]["sustained"]
    assert len(run["series"]) >= 5 and run["throttled"], run
    assert any("drifted" in r for r in run["reasons"]) and any("status rose from 0 to 3" in r for r in run["reasons"])
    assert run["series"][-1]["median_ms"] > 1.4 * run["series"][0]["median_ms"]
    report = bench_cli("report", "--out", str(tmp_path / "report"), "--store", store)
    assert report.code == 0, report.stderr
    page = (tmp_path / "report/report.html").read_text()
    assert "Sustained runs" in page and "THROTTLED" in page
    assert list((tmp_path / "report").glob("sustained_*.png"))


@pytest.mark.slow
def test_sustained_run_on_the_host_records_latency_and_temperature_over_time(
    bench_cli, tiny_files, tmp_path: Path
) -> None:
    result = bench_cli("run", "-m", str(tiny_files["onnx"]), "--sustained", "3", "--chunk", "0.5",
                       "--store", str(tmp_path / "s.sqlite"), "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    series = row["thermal"]["sustained"]["series"]
    assert len(series) >= 5 and all(c["median_ms"] > 0 and c["n"] > 0 for c in series)
    assert series[-1]["t"] >= 2.9 and len(row["samples_ms"]) == sum(c["n"] for c in series)


@pytest.mark.slow
def test_kernels_onnxruntime_rewrites_for_its_blocked_layout_are_still_attributed(profiles: dict) -> None:
    from bench.profiling.profile import profile_model

    profile = profiles.get(("mobilenetv2_100", "onnxruntime"))  # the add-up test's, when it ran
    if profile is None:
        profile = profile_model("mobilenetv2_100", "onnxruntime", runs=3)  # ORT renames convs "<tensor>_nchwc"
    ops = {b.block: b.ops or 0 for b in profile.blocks}
    assert ops.get(TOP_LEVEL, 0) <= 0.05 * sum(ops.values()), ops
    assert ops["blocks.1.0"] >= 3  # expand, depthwise and project convolutions


# The tiny model's TFLite nodes in execution order and the depth-1 block each maps to by the
# module chain in its output tensor's name (containers are no level, so body's children are the
# blocks): conv 0's layout transpose, conv 0 fused with the ReLU (named after body.1), conv 2 and
# its transpose; the model's mean and the head carry no module chain and stay with the last block.
TINY_TFLITE_NODES = [("TRANSPOSE", "body.0"), ("CONV_2D", "body.1"), ("CONV_2D", "body.2"), ("TRANSPOSE", "body.2"),
                     ("MEAN", "body.2"), ("FULLY_CONNECTED", "body.2")]  # fmt: skip


def phone_tflite_profile(bench_cli, phone, tiny_files, unsupported: list[str]) -> tuple[dict, list]:
    """A TFLite profile of the tiny model on the emulated phone, whose XNNPACK refuses ``unsupported``,
    and the simulated tool's own per-node times in its XNNPACK run."""
    (phone.root / "sim/xnnpack_unsupported.json").write_text(json.dumps(unsupported))
    result = bench_cli("profile", f"{tiny_files['source']}:tiny", "--device-file", str(phone.profile),
                       "--format", "tflite", "--runs", "5", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    runs = [json.loads(line) for line in (phone.root / "sim/op_profiles.jsonl").read_text().splitlines()]
    (truth,) = [r["ops"] for r in runs if r["xnnpack"]]  # a newer build: blocks come from the XNNPACK run
    assert [name for name, _ in truth] == [name for name, _ in TINY_TFLITE_NODES]
    return json.loads(result.stdout), truth


@pytest.mark.slow
def test_profile_on_the_phone_maps_xnnpack_operators_and_nodes_to_blocks_and_lists_delegate_fallbacks(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    profile, truth = phone_tflite_profile(bench_cli, emulated_pixel, tiny_files, ["MEAN"])
    expected: dict[str, float] = {}
    for (_, ms), (_, block) in zip(truth, TINY_TFLITE_NODES, strict=True):
        expected[block] = expected.get(block, 0.0) + ms
    blocks = {b["block"]: b for b in profile["blocks"]}
    assert {b: blocks[b]["ms"] for b in blocks} == pytest.approx(expected, abs=3e-3)  # rows print 3 decimals
    assert {b: blocks[b]["ops"] for b in blocks} == {"body.0": 1, "body.1": 1, "body.2": 4}
    assert profile["device"] == "emulated-pixel6" and profile["total_ms"] > 0
    (fallback,) = profile["fallback"]
    assert (fallback["type"], fallback["block"], fallback["delegate"]) == ("MEAN", "body.2", "XNNPACK")
    assert fallback["op"].endswith(":4")
    assert "took 5 of 6 nodes" in profile["note"] and "5 operator rows aligned by kind" in profile["note"]
    report = bench_cli("report", "--out", str(tmp_path / "report"), "--store", str(tmp_path / "s.sqlite"))
    assert report.code == 0, report.stderr
    page = (tmp_path / "report/report.html").read_text()
    assert "Where the time goes" in page and "emulated-pixel6" in page and "body.2" in page
    assert "1 x MEAN left by XNNPACK (body.2)" in page


@pytest.mark.slow
def test_same_named_xnnpack_rows_of_two_partitions_are_timed_where_first_run(
    bench_cli, emulated_pixel, tiny_files
) -> None:
    # XNNPACK refusing the convolutions splits the graph into [TRANSPOSE] and [TRANSPOSE, MEAN,
    # FULLY_CONNECTED]: both transposes are operator 0 of their partition, so the tool's table shows
    # one "Delegate/Transpose (ND, X32) Transpose:0" row called twice per run
    profile, truth = phone_tflite_profile(bench_cli, emulated_pixel, tiny_files, ["CONV_2D"])
    blocks = {b["block"]: b["ms"] for b in profile["blocks"]}
    assert sum(blocks.values()) == pytest.approx(sum(ms for _, ms in truth), abs=6 * 1e-3)
    assert "body.0" in blocks, profile
    transposes = truth[0][1] + truth[3][1]
    assert blocks["body.0"] == pytest.approx(transposes, abs=2e-3)  # the merged row, where it first ran
    assert "1 of them merge same-named operators" in profile["note"]
    assert {f["type"] for f in profile["fallback"]} == {"CONV_2D"}


@pytest.mark.slow
def test_profile_on_the_phone_reads_the_perf_test_session_profile(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    result = bench_cli("profile", f"{tiny_files['source']}:tiny", "--device-file", str(emulated_pixel.profile),
                       "--format", "onnx", "--depth", "2", "--runs", "5", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    profile = json.loads(result.stdout)
    blocks = {b["block"]: b for b in profile["blocks"]}
    assert {"body.1", "body.2", "fc"} <= set(blocks) <= {"body.0", "body.1", "body.2", "fc", TOP_LEVEL}, blocks
    # onnxruntime fuses conv 0 with the ReLU after it: that kernel runs under the ReLU's name
    assert blocks["body.2"]["macs"] > 0 and blocks["body.2"]["ms"] > 0
    assert "kernel times" in profile["note"] and profile["fallback"] == []
    leftovers = list((emulated_pixel.root / "data/local/tmp/bench work/profiles").glob("*/*"))
    assert leftovers == []  # the pulled profile is removed from the phone
