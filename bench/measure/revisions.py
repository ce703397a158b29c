"""Two git revisions of the user's repository as folders to build models from (``bench ab``).

A revision is checked out with ``git worktree add --detach`` into a temporary folder, which is
removed again (``git worktree remove --force``, then ``git worktree prune``) however the command
ends: normally, on an error, on Ctrl-C or SIGTERM. The working tree itself, local changes
included, stands for the head when no head revision is named.

A model reference names files by paths on this machine; :func:`in_tree` moves the paths that lie
inside the repository (a ``file.py:factory`` model's file, ``--weights``, a model file) to the
same place in another tree, so each revision's model is built from that revision's files. Zoo
names and paths outside the repository stay as they are: zoo models come from this project's zoo
on both sides.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench.errors import BenchError
from export.reference import is_model_file, parse_reference, split_options

GIT_TIMEOUT_S = 120.0


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """``git -C repo ARGS`` (text output, never raising for git's own exit status); BenchError when
    git is not installed."""
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise BenchError("bench ab --base/--head needs git, which is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"git {' '.join(args[:2])} took more than {GIT_TIMEOUT_S:.0f} s in {repo}") from None


def repository_root(folder: str | Path = ".") -> Path:
    """The top folder of the git repository that holds ``folder``; BenchError when it is in none."""
    done = _git(Path(folder), "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise BenchError(
            f"bench ab --base/--head compares git revisions, but {Path(folder).resolve()} is not in a git "
            "repository (compare two models directly with --a and --b)"
        )
    return Path(done.stdout.strip()).resolve()


def commit_of(repo: Path, revision: str, option: str) -> str:
    """The full commit id ``revision`` names in ``repo``; BenchError naming ``option`` and the
    revision when it names no commit."""
    if not revision.strip() or revision.startswith("-"):
        raise BenchError(f"{option} '{revision}' is not a git revision")
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if done.returncode != 0 or not done.stdout.strip():
        raise BenchError(f"{option} '{revision}': no such revision in {repo}")
    return done.stdout.strip()


def local_changes(repo: Path) -> str | None:
    """A digest of how the working tree differs from HEAD in tracked files (12 hex digits of the
    sha256 of ``git diff HEAD --binary``; untracked files do not count), None when it does not: two
    working trees with the same digest hold the same changes."""
    try:  # bytes: a changed file need not be UTF-8 text
        diff = subprocess.run(["git", "-C", str(repo), "diff", "HEAD", "--binary", "--no-ext-diff", "--no-color"],
                              capture_output=True, timeout=GIT_TIMEOUT_S)  # fmt: skip
    except (FileNotFoundError, subprocess.TimeoutExpired):
        _git(repo, "diff", "--quiet")  # the same one-line errors as every other git call
        raise
    if diff.returncode != 0 or not diff.stdout:
        return None
    return hashlib.sha256(diff.stdout).hexdigest()[:12]


@dataclass(frozen=True)
class Version:
    """One side of an A/B comparison: ``name`` (``base`` / ``head``, or ``a`` / ``b``), ``label`` (what
    the output calls it: ``main (1a2b3c4)``, ``working tree (HEAD 1a2b3c4 + local changes)``, or the
    model as given), the ``revision`` as the user named it and its ``commit`` (None outside git),
    and the ``tree`` its files come from (None: paths are used as they are)."""

    name: str
    label: str
    revision: str | None = None
    commit: str | None = None
    tree: Path | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "revision": self.revision, "commit": self.commit}


@contextlib.contextmanager
def checked_out(repo: Path, commit: str) -> Iterator[Path]:
    """``commit`` of ``repo`` checked out (detached) in a temporary folder for the ``with`` body; the
    worktree and its folder are removed afterwards, also after an error or an interrupt."""
    remove_abandoned(repo)
    folder = Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX))
    (folder / "owner").write_text(str(os.getpid()))  # whose it is: remove_abandoned
    tree = folder / "tree"
    try:
        done = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["unknown reason"])[-1]
            raise BenchError(f"git worktree add of {commit[:12]} failed: {reason}")
        yield tree
    finally:
        with contextlib.suppress(BenchError):
            _git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(BenchError):
            _git(repo, "worktree", "prune")


WORKTREE_PREFIX = "bench-ab-"


def remove_abandoned(repo: Path) -> list[Path]:
    """Remove the temporary worktrees of ``repo`` that a ``bench ab`` killed by SIGKILL (which no
    handler sees) left: registered, under a ``bench-ab-*`` folder whose ``owner`` process is gone.
    Another live ``bench ab``'s worktrees, and folders without an owner, are left alone. Returns the
    worktrees removed."""
    done = _git(repo, "worktree", "list", "--porcelain")
    removed = []
    for line in done.stdout.splitlines():
        if not line.startswith("worktree "):
            continue
        tree = Path(line[len("worktree ") :])
        if not tree.parent.name.startswith(WORKTREE_PREFIX):
            continue
        try:
            owner = int((tree.parent / "owner").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        with contextlib.suppress(BenchError):
            _git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(tree.parent, ignore_errors=True)
        removed.append(tree)
    if removed:
        with contextlib.suppress(BenchError):
            _git(repo, "worktree", "prune")
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def revisions(base: str, head: str | None, folder: str | Path = ".") -> Iterator[tuple[Path, Version, Version]]:
    """The repository holding ``folder`` and its two versions for the ``with`` body: ``base``
    checked out in a temporary worktree, ``head`` likewise, or (``head`` None) the working tree as
    it is. Raises BenchError outside a repository or for a revision that names no commit (before
    anything is checked out)."""
    repo = repository_root(folder)
    base_commit = commit_of(repo, base, "--base")
    head_commit = commit_of(repo, head, "--head") if head is not None else commit_of(repo, "HEAD", "HEAD")
    with contextlib.ExitStack() as stack:
        base_tree = stack.enter_context(checked_out(repo, base_commit))
        a = Version("base", f"{base} ({base_commit[:7]})", base, base_commit, base_tree)
        if head is None:
            changes = local_changes(repo)
            label = f"working tree (HEAD {head_commit[:7]}{' + local changes' if changes else ''})"
            b = Version("head", label, "working tree", head_commit + (f"+dirty:{changes}" if changes else ""), repo)
        else:
            head_tree = stack.enter_context(checked_out(repo, head_commit))
            b = Version("head", f"{head} ({head_commit[:7]})", head, head_commit, head_tree)
        yield repo, a, b


def _moved(path: str, repo: Path, tree: Path) -> str:
    """``path`` (absolute, or relative to the working folder) at the same place in ``tree`` when it
    lies inside ``repo``; else ``path`` unchanged."""
    absolute = Path(os.path.realpath(os.path.expanduser(path)))
    try:
        inside = absolute.relative_to(repo)
    except ValueError:
        return path
    return str(tree / inside)


def in_tree(reference: str, repo: Path, tree: Path) -> str:
    """The model reference ``reference`` (canonical, :mod:`export.reference`, or a model file path)
    with its files inside ``repo`` taken from ``tree`` instead: a ``file.py:factory`` model's file,
    its ``--weights``, a model file. Zoo names and files outside the repository are unchanged."""
    if is_model_file(reference):
        head, tail = split_options(reference)
        return _moved(head, repo, tree) + tail
    ref = parse_reference(reference)
    if ref.weights is not None:
        ref = replace(ref, weights=_moved(ref.weights, repo, tree))
    if ref.is_user:
        ref = replace(ref, target=_moved(ref.target, repo, tree))
    return ref.canonical
