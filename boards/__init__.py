"""FPGA board targets, SoC top, build flow and host driver. Not written yet (issue #7)."""
