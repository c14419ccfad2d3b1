"""The bad-input corpus (issue #8): every file in tests/data/bad fed to the command line.

Each case in tests/data/bad/cases.toml must exit non-zero (1 for bad input, 2 for usage) with
exactly one ``systolic: error:`` line that names the file and the problem, no traceback, and no
hang. The files are written by tests/data/bad/make_corpus.py.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.cli_helpers import assert_one_line_error, run

BAD = Path(__file__).resolve().parent / "data" / "bad"
CASES: list[dict[str, Any]] = tomllib.loads((BAD / "cases.toml").read_text(encoding="utf-8"))[
    "case"
]
# Files of the corpus that are valid: the baseline the bad files are compared against.
GOOD = {"mlp.onnx", "input.npy", "features.npy", "empty.bin"}
NOT_CORPUS = {"make_corpus.py", "cases.toml"}


def _args(case: dict[str, Any], tmp: Path) -> list[str]:
    return [str(a).replace("{tmp}", str(tmp)) for a in case["args"]]


def _make_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", BAD / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case: dict[str, Any], tmp_path: Path) -> None:
    assert case["status"] in (1, 2)
    r = run(*_args(case, tmp_path), cwd=BAD)
    assert_one_line_error(r, case["status"], case["error"])


def test_case_names_are_unique() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))


def test_every_bad_file_has_a_case() -> None:
    named = {a for c in CASES for a in c["args"]}
    files = {p.name for p in BAD.iterdir()} - NOT_CORPUS
    assert files - GOOD - named == set()
    assert files >= GOOD


def test_the_good_files_work(tmp_path: Path) -> None:
    """The baseline of the run cases compiles and runs, so each error is the bad file's."""
    r = run("run", "mlp.onnx", "--input", "input.npy", "--backend", "golden", cwd=BAD)
    assert r.returncode == 0, r.stderr
    r = run("compile", "mlp.onnx", "--calibration", "input.npy", "-o", tmp_path / "p", cwd=BAD)
    assert r.returncode == 0, r.stderr


def test_empty_program_is_not_an_error() -> None:
    """An empty binary is the empty program: it disassembles to nothing, with status 0."""
    r = run("disasm", "empty.bin", cwd=BAD)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_corpus_is_up_to_date(tmp_path: Path) -> None:
    """The committed files are exactly what make_corpus.py writes (it is deterministic)."""
    written = _make_corpus().write_corpus(tmp_path)
    assert {p.name for p in written} == {p.name for p in BAD.iterdir()} - NOT_CORPUS
    stale = [p.name for p in written if p.read_bytes() != (BAD / p.name).read_bytes()]
    assert stale == [], "run: python tests/data/bad/make_corpus.py"


def test_every_case_is_documented() -> None:
    """docs/errors.md has a row for every case (its cause and fix)."""
    doc = (BAD.parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    assert [c["name"] for c in CASES if f"| `{c['name']}` |" not in doc] == []
