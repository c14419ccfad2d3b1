"""The stepping mode's API and its VCD waveform (its timing is checked in test_sim_reference)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import progs
import pytest

from systolic.sim import SimError, SimResult, run_program, simulate
from systolic.sim.stepper import CYCLE_NS, STALL_REASONS
from systolic.spec.asm import assemble
from systolic.spec.config import PRESETS
from systolic.spec.isa import ErrorCode


@dataclass
class Vcd:
    """A parsed waveform: declarations and every signal's value in every cycle."""

    timescale: str
    vars: dict[str, tuple[str, int]] = field(default_factory=dict)  # "scope.name" -> (id, w)
    cycles: list[dict[str, int | None]] = field(default_factory=list)  # by "scope.name"
    end: int = 0

    def series(self, name: str) -> list[int | None]:
        return [c[name] for c in self.cycles]


def parse_vcd(text: str) -> Vcd:
    """A minimal reader: header, ``$var`` declarations, then value changes at increasing times.

    Fails on anything malformed: an undeclared identifier, a value wider than its variable,
    times that do not increase, or a cycle boundary without a value for every variable.
    """
    head, sep, body = text.partition("$enddefinitions $end")
    assert sep, "no $enddefinitions"
    timescale = re.search(r"\$timescale\s+(\S+)\s+\$end", head)
    assert timescale is not None and re.search(r"\$version .+ \$end", head)
    vcd = Vcd(timescale.group(1))
    scopes: list[str] = []
    by_id: dict[str, tuple[str, int]] = {}
    for line in head.splitlines():
        words = line.split()
        if words[:2] == ["$scope", "module"]:
            scopes.append(words[2])
        elif words[:1] == ["$upscope"]:
            scopes.pop()
        elif words[:1] == ["$var"]:
            assert words[1] == "wire" and words[-1] == "$end", line
            width, ident, name = int(words[2]), words[3], words[4]
            full = ".".join([*scopes, name])
            assert ident not in by_id and full not in vcd.vars, f"declared twice: {line}"
            by_id[ident] = (full, width)
            vcd.vars[full] = (ident, width)
    assert not scopes, "unbalanced $scope"
    current: dict[str, int | None] = {}
    time = -1
    lines = iter(body.split())
    samples: list[tuple[int, dict[str, int | None]]] = []
    for tok in lines:
        if tok.startswith("#"):
            t = int(tok[1:])
            assert t > time, f"time {t} after {time}"
            if time >= 0:
                samples.append((time, dict(current)))
            time = t
            continue
        if tok in ("$dumpvars", "$end"):
            continue
        if tok[0] == "b":
            bits, ident = tok[1:], next(lines)
        else:
            bits, ident = tok[0], tok[1:]
        assert ident in by_id, f"undeclared identifier {ident!r}"
        name, width = by_id[ident]
        assert len(bits) <= width and set(bits) <= set("01x"), f"{tok} for {width} bits"
        current[name] = None if "x" in bits else int(bits, 2)
    vcd.end = time
    # The value during cycle c is the last change at or before CYCLE_NS * c.
    k = 0
    last: dict[str, int | None] = {}
    for c in range(time // CYCLE_NS):
        while k < len(samples) and samples[k][0] <= CYCLE_NS * c:
            last = samples[k][1]
            k += 1
        assert set(last) == set(vcd.vars), f"cycle {c} lacks values"
        vcd.cycles.append(last)
    return vcd


def _waveform(case: progs.Case) -> tuple[SimResult, Vcd]:
    stream = io.StringIO()
    _, r = run_program(case.program, case.inputs, trace=True, mode="step", vcd=stream)
    return r, parse_vcd(stream.getvalue())


def test_vcd_is_well_formed_and_agrees_with_the_result() -> None:
    r, vcd = _waveform(progs.tiled_matmul(PRESETS["tiny"], 13, 11, 9, act="relu"))
    assert r.ok and r.timeline is not None
    assert vcd.timescale == "1ns"
    assert len(vcd.cycles) == r.cycles and vcd.end == CYCLE_NS * r.cycles
    assert vcd.series("systolic.cycle") == list(range(r.cycles))
    assert vcd.series("systolic.clk") == [1] * r.cycles
    # Every counter is the number of cycles its signal is high.
    c = r.counters
    for unit, short in (("load", "load"), ("execute", "exec"), ("store", "store")):
        assert sum(v or 0 for v in vcd.series(f"systolic.{unit}.busy")) == c[f"{short}_busy"]
        stall = vcd.series(f"systolic.{unit}.stall")
        assert sum(v or 0 for v in stall) == c[f"{short}_stall"]
        reasons = vcd.series(f"systolic.{unit}.stall_reason")
        assert all((s == 1) == (w != 0) for s, w in zip(stall, reasons, strict=True))
        u = r.stats.units[unit]
        split = [u.stall_unit_busy, u.stall_tokens, u.stall_hazard, u.stall_interlock]
        assert [reasons.count(k) for k in range(1, len(STALL_REASONS))] == split
        # Pops happen at the timeline's P, and the unit's pc then names that instruction.
        pops = [t for t, v in enumerate(vcd.series(f"systolic.{unit}.pop")) if v]
        mine = [e for e in r.timeline if e.unit == unit]
        assert pops == [e.P for e in mine]
        pcs = vcd.series(f"systolic.{unit}.pc")
        assert [pcs[p] for p in pops] == [e.index for e in mine]
        assert max(v or 0 for v in vcd.series(f"systolic.{unit}.queue")) <= 4  # tiny: Q = 4
    for sig, counter in (("array_busy", "array_busy"), ("rd_beat", "rd_beats")):
        assert sum(v or 0 for v in vcd.series(f"systolic.{sig}")) == c[counter]
    assert sum(v or 0 for v in vcd.series("systolic.wr_beat")) == c["wr_beats"]
    dispatch = vcd.series("systolic.fetch.dispatch")
    assert [t for t, v in enumerate(dispatch) if v] == [e.D for e in r.timeline]
    fetch_pc = vcd.series("systolic.fetch.pc")
    assert [fetch_pc[e.D] for e in r.timeline] == [e.index for e in r.timeline]
    assert vcd.series("systolic.stop") == [0] * (r.cycles - 1) + [1]
    tokens = [vcd.series(f"systolic.tokens.{n}") for n in ("load_to_exec", "exec_to_store")]
    assert all(0 <= (v or 0) <= PRESETS["tiny"].token_depth for s in tokens for v in s)
    assert max(v or 0 for v in tokens[0]) >= 1


def test_vcd_of_an_error() -> None:
    r, vcd = _waveform(next(c for c in progs.error_cases(PRESETS["tiny"]) if c.name == "deadlock"))
    assert r.error == ErrorCode.DEADLOCK
    assert vcd.cycles[-1]["systolic.stop"] == 1
    assert vcd.cycles[-1]["systolic.error"] == ErrorCode.DEADLOCK.value
    assert vcd.cycles[0]["systolic.load.pc"] is None  # nothing in flight: x


def test_vcd_to_a_file_and_partial_on_max_cycles(tmp_path: Path) -> None:
    words = assemble("cfg_lut slot=0 src=0\nhalt")
    path = tmp_path / "run.vcd"
    r = simulate(PRESETS["tiny"], words, b"", mode="step", vcd=path)
    assert (
        len(parse_vcd(path.read_text()).cycles) == r.cycles == 263
    )  # cfg_lut pops at A_0 + 1 = 4, done at 262
    with pytest.raises(SimError, match="max_cycles = 100"):
        simulate(PRESETS["tiny"], words, b"", mode="step", vcd=path, max_cycles=100)
    assert len(parse_vcd(path.read_text()).cycles) == 100


def test_mode_arguments() -> None:
    words = assemble("halt")
    assert simulate(PRESETS["tiny"], words, b"", mode="step").cycles == 5  # A_0 = 3, done at 4
    assert simulate(PRESETS["tiny"], words, b"", mode="step").timeline is None
    with pytest.raises(ValueError, match="mode must be one of"):
        simulate(PRESETS["tiny"], words, b"", mode="slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stepping mode"):
        simulate(PRESETS["tiny"], words, b"", vcd=io.StringIO())


def test_vcd_reads_with_pyvcd() -> None:
    # An independent reader (pyvcd comes with Amaranth): every token parses.
    reader = pytest.importorskip("vcd.reader")
    stream = io.StringIO()
    case = progs.tiled_matmul(PRESETS["tiny"], 5, 6, 7)
    run_program(case.program, case.inputs, mode="step", vcd=stream)
    tokens = list(reader.tokenize(io.BytesIO(stream.getvalue().encode())))
    kinds = [tok.kind for tok in tokens]
    assert kinds.count(reader.TokenKind.VAR) == len(parse_vcd(stream.getvalue()).vars)
    times = [tok.time_change for tok in tokens if tok.kind == reader.TokenKind.CHANGE_TIME]
    assert times == sorted(set(times))
