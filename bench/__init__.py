"""Benchmarks, one module per area: ``python -m bench.<area> [--quick]``.

Each prints readable figures and, as its last line, one JSON object with them. Figures are
compared with a baseline measured in the same run (a ratio), because machines are noisy.
"""
