"""LiteRT's op profiler, reached through the runtime's C API (``libLiteRt.so``) with ctypes.

The Python ``Interpreter`` and ``CompiledModel`` expose no profiler, but the shared library the
``ai-edge-litert`` wheel ships does: a compiled model created with the runtime option
``enable_profiling`` records one event per operator of each run, timed inside the one graph run
(the same arena and layouts as a plain run). XNNPACK reports its own operators (index within its
partition, kernel name); nodes left to the builtin kernels are reported by node index.

The calls and structures follow ``litert/c/litert_compiled_model.h``, ``litert_profiler.h`` and
``litert_profiler_event.h``; the options are the TOML payloads of ``litert_runtime_options.cc``
("runtime_options_string") and ``litert_cpu_options.cc`` ("xnnpack").
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError

HW_ACCELERATOR_CPU = 1  # kLiteRtHwAcceleratorCpu
LOCK_WRITE = 1  # kLiteRtTensorBufferLockModeWrite
OPERATOR_INVOKE = 1 << 1  # a node run by the builtin kernels; metadata1 = its node index
DELEGATE_OPERATOR_KINDS = (1 << 2, 1 << 3)  # a delegate's own operator; metadata1 = its index in the partition
TENSOR_TYPE_BYTES = 512  # LiteRtRankedTensorType (element type, rank, 8 dims, 8 strides) fits with room


class _MemoryUsage(ctypes.Structure):
    _fields_ = [("total", ctypes.c_size_t), ("in_use", ctypes.c_size_t), ("private", ctypes.c_size_t)]


class _Event(ctypes.Structure):  # ProfiledEventData
    _fields_ = [
        ("tag", ctypes.c_char_p),
        ("event_type", ctypes.c_int),
        ("start_us", ctypes.c_uint64),
        ("elapsed_us", ctypes.c_uint64),
        ("begin_memory", _MemoryUsage),
        ("end_memory", _MemoryUsage),
        ("metadata1", ctypes.c_uint64),
        ("metadata2", ctypes.c_uint64),
        ("source", ctypes.c_int),
    ]


@dataclass(frozen=True)
class OpEvent:
    """One operator run: ``index`` is the node index (builtin) or the index within its XNNPACK partition."""

    tag: str
    delegated: bool
    index: int
    us: float


_VOID = ctypes.c_void_p
_SIGNATURES = {  # name -> argument types; every call returns LiteRtStatus (0 = ok) unless listed in _NO_STATUS
    "LiteRtCreateEnvironment": [ctypes.c_int, _VOID, ctypes.POINTER(_VOID)],
    "LiteRtCreateModelFromFile": [_VOID, ctypes.c_char_p, ctypes.POINTER(_VOID)],
    "LiteRtCreateOptions": [ctypes.POINTER(_VOID)],
    "LiteRtSetOptionsHardwareAccelerators": [_VOID, ctypes.c_int],
    "LiteRtCreateOpaqueOptions": [ctypes.c_char_p, _VOID, _VOID, ctypes.POINTER(_VOID)],
    "LiteRtAddOpaqueOptions": [_VOID, _VOID],
    "LiteRtCreateCompiledModel": [_VOID, _VOID, _VOID, ctypes.POINTER(_VOID)],
    "LiteRtGetModelSignature": [_VOID, ctypes.c_size_t, ctypes.POINTER(_VOID)],
    "LiteRtGetNumSignatureInputs": [_VOID, ctypes.POINTER(ctypes.c_size_t)],
    "LiteRtGetNumSignatureOutputs": [_VOID, ctypes.POINTER(ctypes.c_size_t)],
    "LiteRtGetSignatureInputTensorByIndex": [_VOID, ctypes.c_size_t, ctypes.POINTER(_VOID)],
    "LiteRtGetSignatureOutputTensorByIndex": [_VOID, ctypes.c_size_t, ctypes.POINTER(_VOID)],
    "LiteRtGetRankedTensorType": [_VOID, _VOID],
    "LiteRtGetCompiledModelInputBufferRequirements": [_VOID, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(_VOID)],
    "LiteRtGetCompiledModelOutputBufferRequirements": [_VOID, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(_VOID)],
    "LiteRtCreateManagedTensorBufferFromRequirements": [_VOID, _VOID, _VOID, ctypes.POINTER(_VOID)],
    "LiteRtGetTensorBufferPackedSize": [_VOID, ctypes.POINTER(ctypes.c_size_t)],
    "LiteRtLockTensorBuffer": [_VOID, ctypes.POINTER(_VOID), ctypes.c_int],
    "LiteRtUnlockTensorBuffer": [_VOID],
    "LiteRtRunCompiledModel": [_VOID, ctypes.c_size_t, ctypes.c_size_t, _VOID, ctypes.c_size_t, _VOID],
    "LiteRtCompiledModelGetProfiler": [_VOID, ctypes.POINTER(_VOID)],
    "LiteRtStartProfiler": [_VOID],
    "LiteRtResetProfiler": [_VOID],
    "LiteRtGetNumProfilerEvents": [_VOID, ctypes.POINTER(ctypes.c_int)],
    "LiteRtGetProfilerEvents": [_VOID, ctypes.c_int, ctypes.POINTER(_Event)],
    "LiteRtDestroyTensorBuffer": [_VOID],
    "LiteRtDestroyCompiledModel": [_VOID],
    "LiteRtDestroyModel": [_VOID],
    "LiteRtDestroyOptions": [_VOID],
    "LiteRtDestroyEnvironment": [_VOID],
}
_NO_STATUS = {n for n in _SIGNATURES if n.startswith("LiteRtDestroy")}


def _library():
    try:
        import ai_edge_litert
    except ImportError as exc:
        raise BenchError("LiteRT profiling needs the ai-edge-litert package (pip install ai-edge-litert)") from exc
    path = Path(ai_edge_litert.__file__).parent / "libLiteRt.so"
    if not path.is_file():
        raise BenchError(
            f"this ai-edge-litert has no C runtime library ({path.name}); LiteRT profiling needs 2.3 or newer"
        )
    lib = ctypes.CDLL(str(path))
    for name, argtypes in _SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = None if name in _NO_STATUS else ctypes.c_int
    return lib


def _heap_string(text: str) -> tuple[_VOID, _VOID]:
    """A malloc'ed copy of ``text`` and ``free``: opaque options take ownership of their payload."""
    libc = ctypes.CDLL(None)
    libc.strdup.restype = _VOID
    libc.strdup.argtypes = [ctypes.c_char_p]
    return _VOID(libc.strdup(text.encode())), ctypes.cast(libc.free, _VOID)


class _QuietStderr:
    """Holds the runtime's log lines (accelerator registry, delegate creation) off the terminal;
    its last error is kept for the message if creation fails."""

    def __enter__(self):
        self.log = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.log.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        self.last = " ".join(text[text.rfind("ERROR:") :].split()) if "ERROR:" in text else ""
        self.log.close()
        return False


class ProfiledModel:
    """A LiteRT compiled model on the CPU (XNNPACK) with the op profiler on, fed one input."""

    def __init__(self, path: Path, x: np.ndarray, threads: int = 1) -> None:
        self._lib = _library()
        self._owned: list[tuple[str, _VOID]] = []  # (destroy function, handle), released in reverse
        quiet = _QuietStderr()
        try:
            with quiet:
                self._create(path, threads)
        except BenchError as exc:
            self.close()
            raise BenchError(f"{exc}{': ' + quiet.last if quiet.last else ''}") from None
        try:
            self._write_input(x)
        except BenchError:
            self.close()
            raise

    def _call(self, name: str, *args) -> None:
        status = getattr(self._lib, name)(*args)
        if status != 0:
            raise BenchError(f"LiteRT {name.removeprefix('LiteRt')} failed (status {status})")

    def _new(self, name: str, *args, destroy: str | None = None) -> _VOID:
        handle = _VOID()
        self._call(name, *args, ctypes.byref(handle))
        if destroy:
            self._owned.append((destroy, handle))
        return handle

    def _create(self, path: Path, threads: int) -> None:
        self._env = self._new("LiteRtCreateEnvironment", 0, None, destroy="LiteRtDestroyEnvironment")
        model = self._new("LiteRtCreateModelFromFile", self._env, str(path).encode(), destroy="LiteRtDestroyModel")
        options = self._new("LiteRtCreateOptions", destroy="LiteRtDestroyOptions")
        self._call("LiteRtSetOptionsHardwareAccelerators", options, HW_ACCELERATOR_CPU)
        for identifier, toml in (("runtime_options_string", "enable_profiling = true\n"),
                                 ("xnnpack", f"num_threads = {threads}\n")):  # fmt: skip
            payload, free = _heap_string(toml)
            opaque = self._new("LiteRtCreateOpaqueOptions", identifier.encode(), payload, free)
            self._call("LiteRtAddOpaqueOptions", options, opaque)  # the options now own it
        self._compiled = self._new(
            "LiteRtCreateCompiledModel", self._env, model, options, destroy="LiteRtDestroyCompiledModel"
        )
        signature = self._new("LiteRtGetModelSignature", model, 0)
        self._inputs = self._buffers(signature, "Input")
        self._outputs = self._buffers(signature, "Output")
        self._profiler = self._new("LiteRtCompiledModelGetProfiler", self._compiled)  # owned by the model
        self._call("LiteRtStartProfiler", self._profiler)

    def _buffers(self, signature: _VOID, kind: str):
        count = ctypes.c_size_t()
        self._call(f"LiteRtGetNumSignature{kind}s", signature, ctypes.byref(count))
        handles = []
        for i in range(count.value):
            tensor = self._new(f"LiteRtGetSignature{kind}TensorByIndex", signature, i)
            tensor_type = ctypes.create_string_buffer(TENSOR_TYPE_BYTES)
            self._call("LiteRtGetRankedTensorType", tensor, tensor_type)
            requirements = self._new(f"LiteRtGetCompiledModel{kind}BufferRequirements", self._compiled, 0, i)
            handles.append(
                self._new(
                    "LiteRtCreateManagedTensorBufferFromRequirements",
                    self._env,
                    tensor_type,
                    requirements,
                    destroy="LiteRtDestroyTensorBuffer",
                )
            )
        return (_VOID * len(handles))(*handles)

    def _write_input(self, x: np.ndarray) -> None:
        data = np.ascontiguousarray(x)
        size = ctypes.c_size_t()
        first = _VOID(self._inputs[0])
        self._call("LiteRtGetTensorBufferPackedSize", first, ctypes.byref(size))
        if size.value != data.nbytes:
            raise BenchError(f"the model's input holds {size.value} bytes, not {data.nbytes}")
        address = _VOID()
        self._call("LiteRtLockTensorBuffer", first, ctypes.byref(address), LOCK_WRITE)
        try:
            ctypes.memmove(address, data.ctypes.data, data.nbytes)
        finally:
            self._call("LiteRtUnlockTensorBuffer", first)

    def run(self) -> None:
        self._call(
            "LiteRtRunCompiledModel", self._compiled, 0, len(self._inputs), self._inputs, len(self._outputs),
            self._outputs,
        )  # fmt: skip

    def reset(self) -> None:
        """Forget the events recorded so far and record again (a reset also stops the profiler)."""
        self._call("LiteRtResetProfiler", self._profiler)
        self._call("LiteRtStartProfiler", self._profiler)

    def events(self) -> list[OpEvent]:
        """The operator events recorded since the last reset, in execution order."""
        count = ctypes.c_int()
        self._call("LiteRtGetNumProfilerEvents", self._profiler, ctypes.byref(count))
        raw = (_Event * count.value)()
        if count.value:
            self._call("LiteRtGetProfilerEvents", self._profiler, count.value, raw)
        return [
            OpEvent(e.tag.decode(errors="replace") if e.tag else "", e.event_type in DELEGATE_OPERATOR_KINDS,
                    int(e.metadata1), int(e.elapsed_us))
            for e in raw
            if e.event_type == OPERATOR_INVOKE or e.event_type in DELEGATE_OPERATOR_KINDS
        ]  # fmt: skip

    def close(self) -> None:
        with _QuietStderr():
            while self._owned:
                destroy, handle = self._owned.pop()
                getattr(self._lib, destroy)(handle)

    def __enter__(self) -> ProfiledModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
