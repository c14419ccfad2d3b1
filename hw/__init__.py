"""The accelerator's RTL in Amaranth HDL: PE → array → skew → units → top.

Every block is a :class:`amaranth.lib.wiring.Component` with a typed signature and takes its
sizes from an :class:`~systolic.spec.config.AcceleratorConfig`.
"""
