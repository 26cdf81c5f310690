"""Which project modules import a third-party package, read from the source (for the tests that
keep web3 and ccxt inside their client modules)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules_importing(package: str) -> list[str]:
    """Modules of the project (gateway, ramps, compliance) whose code imports ``package``."""
    found = []
    for top in ("gateway", "ramps", "compliance"):
        for path in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom)
                         and not node.level else [])
                if any(name == package or name.startswith(package + ".") for name in names):
                    found.append(path.relative_to(ROOT).as_posix())
                    break
    return found
