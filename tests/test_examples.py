"""The example CI workflow: it gates with ``bench ab`` on the pull request's base and head, with options that exist."""

from __future__ import annotations

import re
import shlex

from conftest import ROOT

WORKFLOW = ROOT / "examples" / "github-actions.yml"


def _options(words: list[str]) -> dict[str, str | None]:
    """``--option value`` pairs of a command's words (a flag followed by another option: None)."""
    options: dict[str, str | None] = {}
    for i, word in enumerate(words):
        if word.startswith("-"):
            following = words[i + 1] if i + 1 < len(words) else None
            options[word] = None if following is None or following.startswith("-") else following
    return options


def test_the_example_workflow_runs_bench_ab_on_base_and_head_with_options_that_exist(bench_cli) -> None:
    text = WORKFLOW.read_text()  # read as text: PyYAML is not one of our dependencies
    assert re.search(r"uses: actions/checkout@v\d+\n\s+with:\n\s+fetch-depth: 0\b", text)  # the base branch too
    assert "run: bash scripts/setup.sh" in text and (ROOT / "scripts" / "setup.sh").is_file()  # the README's set-up
    joined = text.replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if not line.lstrip().startswith("#")]
    (command,) = [line.split("bench ab", 1)[1] for line in lines if "bench ab " in line]
    options = _options(shlex.split(command))
    known = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", bench_cli("ab", "--help").stdout))
    assert set(options) <= known, set(options) - known
    assert options["--base"] == "origin/${{ github.base_ref }}" and options["--head"] == "HEAD"
    assert options["--markdown"] == "$GITHUB_STEP_SUMMARY" and options["-m"]
    assert "bench compare" not in text and "python -c" not in text  # no stored baseline, no shell one-liner
