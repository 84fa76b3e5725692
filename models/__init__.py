"""Pretrained weights and their model cards (top-level ``models/`` in a checkout).

Importable without torch, so that command-line help can show the defaults cheaply.
"""

#: the weights ``predict``, ``scan`` and ``evaluate`` use when ``--weights`` is not given, per task
DEFAULT_WEIGHTS = {"propensity": "propensity-v3", "cath": "cath-v2"}
