"""Run the protsteer CLI from a checkout: ``python cli.py --help`` (the code lives in ``protsteer.cli``).

The shipped weights are the package ``protsteer.models``, which is the top-level ``models/`` directory: an
install maps it into the package (pyproject's ``package-dir``), a bare checkout does not, and the checkout's
``protsteer/`` (first on ``sys.path`` when this script runs) shadows any installed copy. So this script maps
``models/`` to ``protsteer.models`` itself when the import system cannot find it.
"""

import importlib.util
import sys
from pathlib import Path


def map_checkout_models() -> None:
    """Make ``protsteer.models`` the checkout's ``models/`` package unless it is importable already."""
    if importlib.util.find_spec("protsteer.models") is not None:
        return
    models = Path(__file__).resolve().parent / "models"
    spec = importlib.util.spec_from_file_location(
        "protsteer.models", models / "__init__.py", submodule_search_locations=[str(models)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["protsteer.models"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    map_checkout_models()
    from protsteer.cli import main

    main()
