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

pytest: setup
	$(PY) -m pytest -n 2 --dist loadgroup

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

.PHONY: bench
bench: setup
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/layers.py
	$(PY) benchmarks/scalesim_compare.py

docs: setup
	$(PY) scripts/gen_docs.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
