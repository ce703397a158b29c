"""What to export: a zoo model by name, or a user's ``path/to/file.py:factory``.

A ModelSpec knows how to build the module (random weights are seeded, so that the same spec
always yields the same file), its input shape, and a fingerprint of everything its code depends
on for the artifact cache. References (names, factories with arguments, options) are parsed by
:mod:`export.reference`.

A user's file is loaded the way ``python file.py`` would run it: registered in ``sys.modules``
(under a name unique to its path) while it executes, so dataclasses and ``from __future__ import
annotations`` work; its folder first on ``sys.path`` while it loads and while its factory runs, so
``import helpers`` finds the file beside it. Modules loaded from that folder belong to that model:
another model file's ``helpers.py`` never stands in for them, and loading the file again loads
them again (an edit counts).

Dependencies (:attr:`ModelSpec.dependencies`, name -> sha256 or version): the model's own file,
every module that code of its folder imported while the file loaded and while the factory ran
(files of that folder by content, other local packages by the content of their package folder),
and the installed distributions it imported (by version, torch always). The factory's imports are
only known once it ran: the first access builds the model once and :meth:`ModelSpec.build` hands
that model out instead of building it again. A zoo model's are the zoo's code hash, timm and
torch. :attr:`ModelSpec.code_hash` digests them with the factory call, so the export cache key
changes when any of them does.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import site
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn as nn

import models
from bench.digest import file_sha256
from bench.errors import BenchError
from export.reference import USER_INPUTS, Inputs, ModelRef, parse_reference
from models._weights import unzero_scales

WEIGHT_SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    """A model to export.

    ``inputs``: what the model is exported and measured at (:class:`export.reference.Inputs`, or
    the shape of its one input; one input for zoo models). ``source``: the hash of the model's own
    code (the user's file; the zoo's ``models.code_hash()``).
    ``reference``: its canonical reference (:attr:`export.reference.ModelRef.canonical`), what a
    cell stores. ``origin``: where ``dependencies`` come from (None: no more than ``source``).
    """

    name: str
    inputs: Inputs
    source: str
    factory: Callable[[], nn.Module]
    weights: Path | None = None
    reference: str = ""
    origin: UserModel | ZooModel | None = field(default=None, compare=False, repr=False)
    _built: list = field(default_factory=list, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, Inputs):  # the shape of one input
            object.__setattr__(self, "inputs", Inputs.of_shape(self.inputs))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of the model's one input; BenchError for a model with several inputs (for the
        commands that take one: ``bench profile``)."""
        return self.inputs.shape

    @property
    def zoo(self) -> bool:
        """A zoo model (not a user's factory)."""
        return isinstance(self.origin, ZooModel)

    @cached_property
    def weights_hash(self) -> str:
        """The checkpoint's sha256, or how the weights were made: a zoo model's are random; a user's
        are whatever the factory made (random, or loaded by the factory itself) under torch seed 0."""
        if self.weights:
            return file_sha256(self.weights)
        if self.zoo:
            return f"random(seed={WEIGHT_SEED}, zero norm scales set to 1)"
        return f"as the factory made them (torch seed {WEIGHT_SEED})"

    @cached_property
    def dependencies(self) -> dict[str, str]:
        """Name -> sha256 (files, local packages) or version (installed distributions) of all the
        model's code depends on (see the module docstring). For a user's model the first access
        builds it (its factory's imports count); raises BenchError when the factory fails."""
        if self.origin is None:
            return {}
        if self.origin.needs_build:
            self._built.append(self._make())
        return self.origin.dependencies()

    @cached_property
    def code_hash(self) -> str:
        """sha256 over the model's code, the factory call and :attr:`dependencies`: the export cache's
        "code" (a changed helper module, installed timm or factory argument is a miss)."""
        call = self.origin.call if self.origin is not None else self.name
        material = {"source": self.source, "call": call, "dependencies": self.dependencies}
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    @property
    def folder(self) -> Path | None:
        """The folder of a user's model file (None for a zoo model)."""
        return self.origin.folder if isinstance(self.origin, UserModel) else None

    def check_runs(self, arrays: list | None = None) -> None:
        """Run a user's model once on zeros of :attr:`inputs` (in eval mode, which export uses
        anyway), or on ``arrays`` (one per input: the user's first verification sample). Raises
        BenchError when its ``forward`` takes another number of inputs (naming them) or it does not
        run on them (an index past an embedding): bad input, told before any export. Nothing for
        a zoo model."""
        if self.zoo or self.origin is None:
            return
        self.check_factory()
        model = self._built[-1] if self._built else None
        if model is None:
            return
        from export.base import check_input_count, example_tensors

        label = self.origin.label
        check_input_count(model, self.inputs, label)
        try:
            with torch.no_grad():
                model.eval()(*example_tensors(self.inputs, arrays))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any error of the user's forward on these inputs
            given = "its first input file" if arrays is not None else f"input shape {self.inputs.text}"
            raise BenchError(f"{label} does not run on {given}: {_exception_line(exc)}") from None

    def check_factory(self) -> None:
        """Run a user's factory now, once (:attr:`dependencies`; the next :meth:`build` returns that
        model): its BenchError comes before any export or measurement begins. Nothing for a zoo model."""
        if self.origin is not None and self.origin.needs_build:
            self._built.append(self._make())

    def build(self) -> nn.Module:
        """The model in eval mode, seeded; checkpoint weights when given. Raises BenchError when the
        factory fails or returns something that is not a ``torch.nn.Module``."""
        return self.build_noting()[0]

    def build_noting(self) -> tuple[nn.Module, list[str]]:
        """:meth:`build`, and the names of the parameters set after the factory made them: a zoo
        model's all-zero norm scales under random weights (``unzero_scales``); never a user's model's,
        never a checkpoint's (``[]``)."""
        model = self._built.pop() if self._built else self._make()
        changed: list[str] = []
        if self.weights is not None:
            models.load_checkpoint(model, self.weights)
        elif self.zoo:
            changed = unzero_scales(model)
        return model.eval(), changed

    def _make(self) -> nn.Module:
        """What the factory returns, seeded (``WEIGHT_SEED``): the same weights every time."""
        torch.manual_seed(WEIGHT_SEED)
        label = self.origin.label if isinstance(self.origin, UserModel) else self.name
        try:
            model = self.factory()
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - an error in a user's factory is bad input
            raise BenchError(f"{label}: the factory raised {_exception_line(exc)}") from None
        if not isinstance(model, nn.Module):
            raise BenchError(
                f"{label} returned {type(model).__name__}, not a torch.nn.Module: a factory returns the model"
            )
        return model


class ZooModel:
    """A zoo model's dependencies: the zoo's code (``source``), timm and torch."""

    needs_build = False

    def __init__(self, name: str):
        self.call = name

    def dependencies(self) -> dict[str, str]:
        return {"models": models.code_hash(), "timm": installed_version("timm"), "torch": installed_version("torch")}


# Modules loaded from a user model's folder, by any UserModel: removed from sys.modules before
# another model's file loads or its factory runs, so that its own folder's modules are the ones found.
_FOLDER_MODULES: set[str] = set()


class UserModel:
    """A user's model file, loaded as ``python file.py`` would run it, its factory and what it imported.

    Construction executes the file (BenchError when it raises, with ``sys.modules`` and
    ``sys.path`` left as they were), finds the factory and checks that the reference's arguments
    fit its signature (BenchError naming what to pass). :meth:`make` calls it.
    """

    def __init__(self, ref: ModelRef):
        self.ref = ref
        self.path = Path(ref.target)
        self.folder = self.path.parent
        self.call = ref.call
        self.label = ref.label
        self.imported: dict[str, str | None] = {}  # module name -> its file (None: built in)
        self.modules: dict[str, ModuleType] = {}  # the modules this model loaded from its folder
        self.needs_build = True
        stem = re.sub(r"\W", "_", self.path.stem)
        self.module_name = f"bench_user_{stem}_{_digest(str(self.path))[:8]}"
        self.module = self._load()
        self.function = getattr(self.module, ref.factory, None)
        if not callable(self.function):
            raise BenchError(f"{ref.shown} has no callable '{ref.factory}'")
        self._check_arguments()

    def make(self) -> Any:
        """Call the factory with the reference's arguments (the folder on the import path, imports recorded)."""
        with self._importing():
            try:
                return self.function(*self.ref.args, **dict(self.ref.kwargs))
            except BenchError:
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - an error (or exit) in a user's factory is bad input
                raise BenchError(f"{self.label}: the factory raised {_exception_line(exc)}") from None
            finally:
                self.needs_build = False

    def dependencies(self) -> dict[str, str]:
        """See the module docstring; keys are paths relative to the model's folder where they are in it."""
        deps = {self._key(self.path): file_sha256(self.path), "torch": installed_version("torch")}
        for name, file in sorted(self.imported.items()):
            where = _location(file) if file else "builtin"
            if where in ("builtin", "stdlib") or Path(file) == self.path:
                continue
            if where == "site":
                top = name.partition(".")[0]
                for dist in _distributions(top):
                    deps[dist] = installed_version(dist)
                if not _distributions(top):
                    deps[top] = file_sha256(Path(file))
            elif name in self.modules:
                deps[self._key(Path(file))] = file_sha256(Path(file))
            else:  # a local package loaded before (its own imports unseen): all of its files
                folder = _package_folder(name, Path(file))
                deps[self._key(folder)] = _tree_sha256(folder) if folder.is_dir() else file_sha256(folder)
        return deps

    def _key(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix() if path.is_relative_to(self.folder) else str(path)

    def _load(self) -> ModuleType:
        spec = importlib.util.spec_from_file_location(self.module_name, self.path)
        module = importlib.util.module_from_spec(spec)
        previous = sys.modules.get(self.module_name)
        for name in _FOLDER_MODULES:  # loaded again, fresh: an edited helper counts
            sys.modules.pop(name, None)
        sys.modules[self.module_name] = module
        try:
            with self._importing():
                spec.loader.exec_module(module)
        except BaseException as exc:
            for name in self.modules:
                sys.modules.pop(name, None)
            if previous is None:
                sys.modules.pop(self.module_name, None)
            else:
                sys.modules[self.module_name] = previous
            if not isinstance(exc, Exception | SystemExit):  # Ctrl-C stays an interrupt
                raise
            raise BenchError(f"cannot import {self.ref.shown}: {_exception_line(exc)}") from None
        return module

    @contextlib.contextmanager
    def _importing(self) -> Iterator[None]:
        """The model's folder first on ``sys.path``, its own folder modules in ``sys.modules`` (not
        another model's of the same name), and the imports made by code of its folder recorded."""
        for name in _FOLDER_MODULES - set(self.modules):
            sys.modules.pop(name, None)
        shadowed = self._unshadow()
        sys.modules.update(self.modules)
        before = set(sys.modules)
        entry = str(self.folder)
        sys.path.insert(0, entry)
        try:
            with _recording_imports(entry + os.sep, self.imported):
                yield
        finally:
            if entry in sys.path:
                sys.path.remove(entry)
            for name in set(sys.modules) - before:
                file = getattr(sys.modules[name], "__file__", None)
                top = name.partition(".")[0]
                # A new submodule of a package loaded before (this project's own `bench` when the
                # model file sits at its root) is not the model's: it stays loaded, once.
                mine = top not in before or top in self.modules
                if mine and file and Path(file).is_relative_to(self.folder):
                    self.modules[name] = sys.modules[name]
                    self.imported.setdefault(name, file)
                    _FOLDER_MODULES.add(name)
            sys.modules.update(shadowed)  # this program's own modules of those names, back in place

    def _unshadow(self) -> dict[str, ModuleType]:
        """Take out of ``sys.modules`` (returned, to be put back) the modules already loaded from
        elsewhere whose top-level name is a module or package in the model's folder: ``import
        models`` in the user's file finds the user's ``models.py``, as ``python file.py`` would,
        not this program's ``models`` package."""
        try:
            local = {p.stem for p in self.folder.glob("*.py")} | {
                p.parent.name for p in self.folder.glob("*/__init__.py")
            }
        except OSError:
            return {}
        shadowed = {}
        for name in list(sys.modules):
            if name.partition(".")[0] not in local or sys.modules[name] is self.modules.get(name):
                continue
            file = getattr(sys.modules[name], "__file__", None)
            if not (file and Path(file).is_relative_to(self.folder)):
                shadowed[name] = sys.modules.pop(name)
        return shadowed

    def _check_arguments(self) -> None:
        """BenchError when the reference's arguments do not fit the factory: what is missing and how to pass it."""
        try:
            signature = inspect.signature(self.function)
        except (TypeError, ValueError):  # a builtin without a signature: its own error when called
            return
        args, kwargs = self.ref.args, dict(self.ref.kwargs)
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            names = ", ".join(signature.parameters) or "none"
            raise BenchError(f"{self.label}: {exc} (its parameters: {names})") from None
        required = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    inspect.Parameter.KEYWORD_ONLY)  # fmt: skip
        missing = [
            p.name
            for p in signature.parameters.values()
            if p.kind in required and p.default is p.empty and p.name not in bound.arguments
        ]
        if missing:
            given = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
            call = f"{self.ref.factory}({', '.join([*given, *(f'{n}=...' for n in missing)])})"
            them = "it" if len(missing) == 1 else "them"
            raise BenchError(
                f"{self.label} needs argument{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(n) for n in missing)}: pass {them} as {self.ref.shown}:{call} or --factory-args"
            )


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution`` ("unknown" when it has no metadata), as the export
    cache records it."""
    return _version(distribution)


@cache
def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@cache
def _distribution_map() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(top_level: str) -> list[str]:
    """The installed distributions that provide the top-level module ``top_level`` (timm -> [timm], PIL -> [pillow])."""
    return sorted(set(_distribution_map().get(top_level, [])))


@cache
def _roots() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(site-packages folders, standard library folders), real paths ending in a separator."""
    paths = sysconfig.get_paths()
    sites = {paths["purelib"], paths["platlib"], *getattr(site, "getsitepackages", list)()}
    if site.ENABLE_USER_SITE:
        sites.add(site.getusersitepackages())
    std = {paths["stdlib"], paths["platstdlib"]}
    real = lambda folders: tuple(os.path.realpath(f) + os.sep for f in folders if f)  # noqa: E731
    return real(sites), real(std)


def _location(file: str) -> str:
    """Where a module's file is: "site" (an installed distribution), "stdlib", or "local"."""
    real = os.path.realpath(file)
    sites, std = _roots()
    if real.startswith(sites) or {"site-packages", "dist-packages"} & set(Path(real).parts):
        return "site"
    return "stdlib" if real.startswith(std) else "local"


_OWN_CODE = tuple(str(Path(__file__).resolve().parents[1] / name) + os.sep for name in ("bench", "export", "models"))


def is_user_code(file: str) -> bool:
    """Whether ``file`` (a traceback's or warning's file name) is the user's code: not an installed
    distribution, not the standard library, not this program's own ``bench``, ``export`` or zoo."""
    return _location(file) == "local" and not os.path.realpath(file).startswith(_OWN_CODE)


def _package_folder(name: str, file: Path) -> Path:
    """The folder of the top-level package ``name`` belongs to, or ``file`` for a plain module."""
    top = sys.modules.get(name.partition(".")[0])
    top_file = getattr(top, "__file__", None)
    if top is not None and hasattr(top, "__path__") and top_file:
        return Path(top_file).parent
    return file


def _tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _recording_imports(folder: str, sink: dict[str, str | None]) -> Iterator[None]:
    """Record in ``sink`` (module name -> file) every module that code of ``folder`` (a path ending in
    a separator) imports, cached or not, while active."""
    original = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        module = original(name, globals, locals, fromlist, level)
        importer = (globals or {}).get("__file__") or ""
        if not importer.startswith(folder):
            return module
        try:
            absolute = importlib.util.resolve_name("." * level + name, globals.get("__package__")) if level else name
        except (ImportError, ValueError):
            return module
        parts = absolute.split(".")
        names = [".".join(parts[: i + 1]) for i in range(len(parts))]
        names += [f"{absolute}.{item}" for item in fromlist or () if item != "*"]
        for each in names:
            if each in sys.modules:
                sink.setdefault(each, getattr(sys.modules[each], "__file__", None))
        return module

    builtins.__import__ = recording_import
    try:
        yield
    finally:
        builtins.__import__ = original


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def _export_name(ref: ModelRef) -> str:
    """The artifact name of a user's model: ``net.make``, ``net.make(width=0.5)`` (a file name:
    characters a path cannot hold become ``_``; long argument lists a digest)."""
    stem = Path(ref.target).stem
    if not (ref.args or ref.kwargs):
        return f"{stem}.{ref.factory}"
    safe = re.sub(r"[^\w.,=()+\- ]", "_", ref.call).replace(" ", "")
    return f"{stem}.{safe}" if len(safe) <= 80 else f"{stem}.{ref.factory}-{_digest(ref.call)[:12]}"


def resolve(
    ref: str | ModelRef,
    input_shape: Inputs | tuple[int, ...] | None = None,
    weights: str | Path | None = None,
    factory_args: tuple[tuple, dict[str, Any]] | None = None,
) -> ModelSpec:
    """The spec of a model reference (:mod:`export.reference`: a zoo name or ``file.py:factory``,
    options inline or given here). Loads a user's file (not its factory: see ``dependencies``).
    Raises BenchError for a missing file, an import error, a missing factory or arguments that do not
    fit it; the zoo's UnknownModelError for an unknown name."""
    if not isinstance(ref, ModelRef):
        ref = parse_reference(ref, input_shape, weights, factory_args)
    weights_path = Path(ref.weights) if ref.weights else None
    if weights_path is not None and not weights_path.is_file():
        raise BenchError(f"weights file not found: {weights if weights else weights_path}")
    if ref.is_user:
        if not Path(ref.target).is_file():
            raise BenchError(f"model file not found: {ref.shown}")
        user = UserModel(ref)
        return ModelSpec(
            name=_export_name(ref),
            inputs=ref.inputs or USER_INPUTS,
            source=file_sha256(Path(ref.target)),
            factory=user.make,
            weights=weights_path,
            reference=ref.without_shape(USER_INPUTS).canonical,
            origin=user,
        )
    card = models.get_card(ref.target)
    default = Inputs.of_shape(card.input_shape)
    given = ref.inputs or default
    if len(given) != 1 or given.tensors[0].dtype != "float32" or len(given.shape) != len(card.input_shape):
        raise BenchError(
            f"--input-shape {given.text}: {ref.target} takes one float32 input of rank {len(card.input_shape)} "
            f"like {','.join(map(str, card.input_shape))}"
        )
    name = ref.target
    return ModelSpec(
        name=name,
        inputs=Inputs.of_shape(given.shape),  # a zoo model's one input is unnamed ("input")
        source=models.code_hash(),
        factory=lambda: models.create_model(name),
        weights=weights_path,
        reference=replace(ref, inputs=Inputs.of_shape(given.shape)).without_shape(default).canonical,
        origin=ZooModel(name),
    )
