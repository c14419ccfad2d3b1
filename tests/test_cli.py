"""The `systolic` command line: every subcommand works, and bad input is one line, non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from systolic.spec.config import PRESETS, AcceleratorConfig
from tests.cli_helpers import assert_one_line_error, run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "programs" / "matmul_relu.s"


@pytest.mark.parametrize("sub", [[], ["info"], ["asm"], ["disasm"]])
def test_help(sub: list[str]) -> None:
    r = run(*sub, "--help")
    assert r.returncode == 0
    assert "usage: systolic" in r.stdout


def test_info_preset_and_overrides() -> None:
    r = run("info", "--preset", "tiny")
    assert r.returncode == 0
    assert "4 x 4 int8 MACs" in r.stdout
    r = run("info", "--rows", "3", "--cols", "5")
    assert "3 x 5 int8 MACs" in r.stdout
    r = run("info", "--list")
    assert all(name in r.stdout for name in PRESETS)


def test_info_toml_round_trips(tmp_path: Path) -> None:
    r = run("info", "--preset", "large", "--toml")
    path = tmp_path / "large.toml"
    path.write_text(r.stdout)
    assert AcceleratorConfig.from_toml(path) == PRESETS["large"]
    r = run("info", "--config", path, "--cols", "8")
    assert "16 x 8 int8 MACs" in r.stdout


@pytest.mark.parametrize(
    ("args", "status", "text"),
    [
        (["info", "--preset", "nope"], 1, "unknown preset 'nope'"),
        (["info", "--rows", "0"], 1, "rows must be an integer in [1, 1023], got 0"),
        (["info", "--rows", "x"], 2, "argument --rows: invalid int value: 'x'"),
        (["info", "--config", "missing.toml"], 1, "missing.toml: config file not found"),
        (["info", "--preset", "tiny", "--config", "a.toml"], 2, "not allowed with argument"),
        ([], 2, "the following arguments are required: COMMAND"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["asm", "missing.s", "-o", "x.bin"], 1, "missing.s: file not found"),
        (["disasm", "missing.bin"], 1, "missing.bin: file not found"),
    ],
)
def test_usage_errors(args: list[str], status: int, text: str) -> None:
    assert_one_line_error(run(*args), status, text)


def test_asm_disasm_round_trip(tmp_path: Path) -> None:
    binary = tmp_path / "p.bin"
    r = run("asm", EXAMPLE, "-o", binary)
    assert r.returncode == 0, r.stderr
    assert binary.stat().st_size == 16 * 9
    text = tmp_path / "p.s"
    assert run("disasm", binary, "-o", text).returncode == 0
    again = tmp_path / "q.bin"
    assert run("asm", text, "-o", again).returncode == 0
    assert again.read_bytes() == binary.read_bytes()
    r = run("disasm", binary)
    assert r.stdout == text.read_text()


def test_asm_errors(tmp_path: Path) -> None:
    src = tmp_path / "bad.s"
    src.write_text("halt\nmatmul src=0 dst=0 n=0\n")
    assert_one_line_error(
        run("asm", src, "-o", tmp_path / "x.bin"),
        1,
        "bad.s:2: matmul: field 'n' = 0 does not fit [1, 65535]",
    )
    src.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(run("asm", src, "-o", tmp_path / "x.bin"), 1, "not a text file")
    assert_one_line_error(run("asm", EXAMPLE, "-o", tmp_path / "no" / "dir.bin"), 1, "cannot write")


def test_disasm_errors(tmp_path: Path) -> None:
    blob = tmp_path / "g.bin"
    blob.write_bytes(b"garbage")
    assert_one_line_error(
        run("disasm", blob), 1, "size 7 bytes is not a multiple of the 16-byte instruction size"
    )
    blob.write_bytes(bytes(16) * 2)
    assert_one_line_error(run("disasm", blob), 1, "instruction 0 (byte offset 0): illegal opcode 0")
    r = run("disasm", "--raw", blob)
    assert r.returncode == 0
    assert r.stdout.count(".word") == 2
    blob.write_bytes(b"")
    r = run("disasm", blob)
    assert (r.returncode, r.stdout) == (0, "")
