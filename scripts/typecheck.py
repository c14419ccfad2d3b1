"""Type-check the software half with mypy --strict.

The import package `systolic` is assembled from top-level folders (pyproject's
[tool.setuptools.package-dir]), which mypy cannot follow through an editable install. This script
mirrors that mapping with symlinks under build/typecheck and checks the result.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    tree = ROOT / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    top = tree / "systolic"
    top.mkdir(parents=True)
    for f in (ROOT / mapping["systolic"]).glob("*.py"):
        (top / f.name).symlink_to(f)
    for pkg, folder in mapping.items():
        if pkg != "systolic":
            (top / pkg.split(".", 1)[1]).symlink_to(ROOT / folder, target_is_directory=True)
    args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    args += ["--cache-dir", str(ROOT / "build" / "mypy_cache"), "systolic"]
    env = {**os.environ, "MYPYPATH": str(ROOT / "scripts" / "stubs")}
    return subprocess.call(args, cwd=tree, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
