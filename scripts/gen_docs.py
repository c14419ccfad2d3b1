"""Regenerate the generated documentation (docs/isa.md) from its single source of truth."""

from pathlib import Path

from systolic.spec.isa import render_markdown

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    (ROOT / "docs" / "isa.md").write_text(render_markdown(), encoding="utf-8")
    print("wrote docs/isa.md")
