"""Benchmarks of the simulator and compiler (``make bench``); see sim_speed.py."""
