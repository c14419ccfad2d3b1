"""Hypothesis profiles for the whole suite, picked by ``SYSTOLIC_HYPOTHESIS_PROFILE``.

``ci`` (the default) is derandomised, so that a run is repeatable, and has no per-example
deadline (simulating a program takes a while and varies with the machine's load). ``long`` runs
ten times as many examples, with fresh random ones each time; tests that set their own
``max_examples`` scale it with the profile where they say so (see tests/test_properties.py).
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE_ENV = "SYSTOLIC_HYPOTHESIS_PROFILE"

settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None, database=None)
settings.register_profile("long", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))
