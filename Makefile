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

# Long differential-fuzzing campaign: N random programs per config and RTL simulator.
N ?= 10000
.PHONY: fuzz
fuzz: setup
	$(PY) scripts/fuzz.py --count $(N) --json build/fuzz.json

.PHONY: bench
bench: setup
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/layers.py
	$(PY) benchmarks/scalesim_compare.py

docs: setup
	$(PY) scripts/gen_docs.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
