"""Long differential-fuzzing campaigns: random programs on the simulator and the RTL.

Usage:
    python scripts/fuzz.py --count 2500                  # every config, both simulators
    python scripts/fuzz.py --config tiny --seed 11 --count 1 --simulator icarus   # replay

The configurations are tests/rtl's (tiny, rect, lean). `make test` runs lean on Icarus only, to
keep Verilator builds few; a long campaign runs it on both. Seeds run from --seed upwards (per
configuration, offset as in tests/test_fuzz.py). Every
program is compared on error and index, cycles, all counters and the final memory. A mismatch
prints its seed and the replay command; the exit status is 1 if any program differs.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from systolic.sim import simulate  # noqa: E402
from systolic.sim.fuzz import differences, races, random_program  # noqa: E402
from systolic.sim.rtl import run_rtl_batch  # noqa: E402
from tests.rtl.test_rtl import CONFIGS  # noqa: E402
from tests.test_fuzz import SEED0  # noqa: E402

BATCH = 500  # programs per simulator process


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="programs per config and simulator")
    ap.add_argument("--seed", type=int, help="first seed (default: the CI profile's end)")
    ap.add_argument("--config", choices=list(CONFIGS), action="append", help="(default: all)")
    ap.add_argument("--simulator", choices=["icarus", "verilator"], action="append")
    ap.add_argument("--json", type=Path, help="write the campaign's summary here")
    args = ap.parse_args()
    configs = args.config or list(CONFIGS)
    simulators = args.simulator or ["verilator", "icarus"]
    summary: dict[str, object] = {"programs": 0, "mismatches": [], "by_outcome": {}}
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    racy = 0  # halted programs with a data race between units: memory not compared
    began = time.monotonic()
    for name in configs:
        cfg = CONFIGS[name]
        first = args.seed if args.seed is not None else SEED0[name] + 1000
        for simulator in simulators:
            for start in range(0, args.count, BATCH):
                seeds = range(first + start, first + min(args.count, start + BATCH))
                programs = [random_program(cfg, seed=s) for s in seeds]
                results = run_rtl_batch(
                    cfg, [(p.words, p.memory) for p in programs], simulator=simulator
                )
                for program, rtl in zip(programs, results, strict=True):
                    sim = simulate(
                        cfg, program.words, program.memory, max_cycles=1_000_000, trace=True
                    )
                    outcomes[f"{program.kind}/{sim.error.name}"] += 1
                    if sim.error.name == "NONE" and races(cfg, program.words, sim):
                        racy += 1
                    diff = differences(cfg, program, sim, rtl, simulator=simulator)
                    if diff:
                        failures.append(
                            f"{name}/{simulator} seed {program.seed} ({program.kind}): "
                            + "; ".join(diff)
                            + f"\n  replay: python scripts/fuzz.py --config {name} "
                            f"--simulator {simulator} --seed {program.seed} --count 1"
                        )
                done = start + len(programs)
                print(
                    f"{name}/{simulator}: {done}/{args.count} programs, "
                    f"{len(failures)} mismatches, {time.monotonic() - began:.0f} s",
                    flush=True,
                )
    total = sum(outcomes.values())
    summary.update(
        programs=total,
        halted_with_race=racy,
        mismatches=failures,
        by_outcome=dict(sorted(outcomes.items())),
        seconds=round(time.monotonic() - began, 1),
    )
    for line in failures:
        print(line)
    print(f"{total} programs, {len(failures)} mismatches ({racy} halted with a data race)")
    for key, n in sorted(outcomes.items()):
        print(f"  {key:<28} {n}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
