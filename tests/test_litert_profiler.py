"""LiteRT's op profiler through its C library, and XNNPACK operators aligned to TFLite nodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.profiling.litert_c import OpEvent, ProfiledModel
from bench.profiling.litert_events import align, delegate_partitions, node_time_map, split_by_partition


def test_identical_kinds_map_one_to_one() -> None:
    kinds = ["TRANSPOSE", "CONV_2D", "ADD", "MEAN"]
    tags = ["Transpose (ND, X32) Transpose", "Convolution (NHWC, F32) IGEMM", "Add (ND)", "Mean (ND) Reduce2"]
    assert align(kinds, tags) == [0, 1, 2, 3]


def test_a_pad_folded_into_the_next_convolution_takes_no_operator() -> None:
    kinds = ["CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD"]
    tags = ["Fully Connected (NC, F32) GEMM", "Convolution (NHWC, F32) DWConv", "Fully Connected (NC, F32) GEMM",
            "Add (ND)"]  # fmt: skip
    assert align(kinds, tags) == [0, 2, 3, 4]


def test_a_squaring_mul_folded_into_mean_squared_leaves_the_time_with_the_mean() -> None:
    kinds = ["SUB", "MUL", "MEAN", "ADD", "RSQRT"]
    tags = ["Subtract (ND)", "Mean Squared (ND) Reduce2", "Add (ND)", "Reciprocal Square Root (NC)"]
    assert align(kinds, tags) == [0, 2, 3, 4]


def test_a_node_run_as_two_operators_keeps_both() -> None:
    kinds = ["SLICE", "FULLY_CONNECTED", "BATCH_MATMUL"]
    tags = ["Slice (ND, X32)", "Static Reshape (NC)", "Fully Connected (NC, F32) GEMM",
            "Batch Matrix Multiply (NC, F32) GEMM"]  # fmt: skip
    assert align(kinds, tags) == [0, 0, 1, 2]


def test_of_two_nodes_of_the_kind_the_earlier_takes_the_operator() -> None:
    assert align(["TRANSPOSE", "TRANSPOSE", "MEAN"], ["Transpose (ND, X32) Transpose", "Mean (ND) Reduce2"]) == [0, 2]


def test_partitions_are_split_where_the_operator_index_starts_again() -> None:
    events = [OpEvent("Add (ND)", True, 0, 5), OpEvent("Multiply (ND)", True, 1, 6), OpEvent("Add (ND)", True, 0, 7),
              OpEvent("CONCATENATION", False, 9, 8), OpEvent("Add (ND)", True, 0, 1)]  # fmt: skip
    groups, builtin = split_by_partition(events)
    assert [[e.us for e in g] for g in groups] == [[5, 6], [7], [1]]
    assert [e.index for e in builtin] == [9]


def _node(index: int, name: str, inputs: list[int], outputs: list[int]) -> dict:
    return {"index": index, "op_name": name, "inputs": inputs, "outputs": outputs}


def test_a_partition_covers_the_nodes_between_its_inputs_and_outputs() -> None:
    # 0: t0 -> t1, 1: t1 -> t2 (left to the builtin kernels), 2: t2 -> t3, 3: t3 -> t4
    details = [_node(0, "ADD", [0], [1]), _node(1, "CONCATENATION", [1], [2]), _node(2, "MUL", [2], [3]),
               _node(3, "ADD", [3], [4]), _node(4, "DELEGATE", [0], [1]), _node(5, "DELEGATE", [2], [4])]  # fmt: skip
    assert delegate_partitions(details) == [[0], [2, 3]]


def test_another_partitioning_than_the_interpreters_is_aligned_as_a_whole() -> None:
    kinds = ["ADD", "MUL", "ADD"]
    run = [OpEvent("Add (ND)", True, 0, 1), OpEvent("Multiply (ND)", True, 1, 1), OpEvent("Add (ND)", True, 2, 1)]
    assert node_time_map(run, [[0], [1, 2]], kinds) == [[0, 1, 2]]  # one group, two partitions
    assert node_time_map(run, [], kinds) == [[0, 1, 2]]  # the interpreter delegated nothing


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory) -> Path:
    import torch
    import torch.nn as nn

    from export.pipeline import export_model
    from export.source import ModelSpec

    def factory() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(8, 4))  # fmt: skip

    folder = tmp_path_factory.mktemp("litert")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_RESULTS", str(folder))
        torch.manual_seed(0)
        artifact = export_model(ModelSpec("litert_tiny", (1, 3, 32, 32), "litert-tiny-1", factory), "tflite", "fp32")
    assert artifact.error is None, artifact.error
    return Path(artifact.path)


def test_the_profiler_reports_every_operator_of_each_run(tiny_tflite: Path) -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with ProfiledModel(tiny_tflite, x) as model:
        model.run()
        first = model.events()
        model.reset()
        model.run()
        second = model.events()
    assert first and [e.tag for e in first] == [e.tag for e in second]  # reset: one run's events, again
    assert all(e.delegated for e in first)  # XNNPACK took every node
    assert any("Convolution" in e.tag or "Fully Connected" in e.tag for e in first)


def test_a_file_that_is_not_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(BenchError, match="CreateModelFromFile failed.*TFL3") as info:
        ProfiledModel(bad, np.zeros(3, np.float32))
    assert "\n" not in str(info.value)


def test_an_input_of_the_wrong_size_is_refused(tiny_tflite: Path) -> None:
    with pytest.raises(BenchError, match="input holds 12288 bytes, not 48"):
        ProfiledModel(tiny_tflite, np.zeros(12, np.float32))
