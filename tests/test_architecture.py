"""The packages' boundaries (DESIGN.md "Packages") hold, over the whole import graph (lazy imports
inside functions included):

- the import contracts in pyproject.toml (``[tool.importlinter]``: ramps and compliance import
  nothing from gateway but gateway.common, gateway.common imports no app, ramps and compliance
  do not import each other), checked with import-linter, whose report names each import that
  breaks one;
- no import cycle between apps (each Django app, and gateway.common) but the known ones listed
  in pyproject.toml (``[tool.offramp-gateway.app-cycles]``); a new cycle is named with the
  imports (file, line, statement) that make it.
"""

import itertools
import os
import subprocess
import sys
import textwrap
import tomllib
import warnings
from collections import deque
from pathlib import Path

import grimp
import pytest
from django.apps import apps as django_apps

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "ramps", "compliance")
# `lint-imports` as this interpreter runs it, wherever the virtualenv put its scripts.
LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import "
                "lint_imports_command; sys.exit(lint_imports_command())"]
SHARED = "gateway.common"

Edges = dict[tuple[str, str], list[tuple[str, str]]]


def contracts_broken(root: Path) -> str:
    """import-linter's report on the contracts of ``root/pyproject.toml`` when one is broken;
    empty when every contract holds."""
    result = subprocess.run(
        [*LINT_IMPORTS, "--no-cache", "--no-logo", "pyproject.toml"], cwd=root,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)}, check=False)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def app_of(module: str, apps: list[str]) -> str:
    """The innermost app holding ``module``; a module of the project outside every app
    (settings, urls, the Celery app) stands for itself."""
    holding = [app for app in apps if module == app or module.startswith(app + ".")]
    return max(holding, key=len) if holding else module


def app_edges(graph: grimp.ImportGraph, apps: list[str]) -> Edges:
    """(importing app, imported app) -> the module imports behind that dependency."""
    edges: Edges = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            pair = (app_of(importer, apps), app_of(imported, apps))
            if pair[0] != pair[1]:
                edges.setdefault(pair, []).append((importer, imported))
    return edges


def _strongly_connected(nodes: list[str], edges: Edges) -> list[list[str]]:
    following = {node: sorted(b for (a, b) in edges if a == node) for node in nodes}
    order, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for nxt in following[node]:
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            groups.append(sorted(group))

    for node in nodes:
        if node not in order:
            visit(node)
    return [group for group in groups if len(group) > 1]


def _shortest_cycle(group: list[str], edges: Edges) -> list[str]:
    """The shortest cycle through the group's first app, as a list of apps."""
    start = group[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for (a, b) in sorted(edges):
            if a != node or b not in group:
                continue
            if b == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if b not in came_from:
                came_from[b] = node
                queue.append(b)
    return group  # unreachable for a strongly connected group


def _where(graph: grimp.ImportGraph, importer: str, imported: str, root: Path) -> list[str]:
    path = Path(*importer.split("."))
    path = path / "__init__.py" if (root / path).is_dir() else path.with_suffix(".py")
    return [f"        {path}:{detail['line_number']}: {detail['line_contents']}"
            for detail in graph.get_import_details(importer=importer, imported=imported)]


def app_cycles(graph: grimp.ImportGraph, apps: list[str], known: list[str], *,
               root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(each cycle between apps, not closed by a known dependency, with the imports that make
    it; each known dependency that no longer exists)."""
    edges = app_edges(graph, apps)
    known_pairs = {tuple(part.strip() for part in entry.split("->")) for entry in known}
    stale = sorted(f"{a} -> {b}" for (a, b) in known_pairs if (a, b) not in edges)
    edges = {pair: found for pair, found in edges.items() if pair not in known_pairs}
    nodes = sorted({app for pair in edges for app in pair})
    cycles = []
    for group in _strongly_connected(nodes, edges):
        cycle = _shortest_cycle(group, edges)
        lines = [f"Import cycle between apps: {' -> '.join(cycle)}"
                 + (f" (tangled with {', '.join(sorted(set(group) - set(cycle)))})"
                    if set(group) - set(cycle) else "")]
        for a, b in itertools.pairwise(cycle):
            lines.append(f"    {a} -> {b}:")
            for importer, imported in edges[(a, b)]:
                lines.extend(_where(graph, importer, imported, root))
        cycles.append("\n".join(lines))
    return cycles, stale


def project_apps() -> list[str]:
    return sorted({config.name for config in django_apps.get_app_configs()
                   if config.name.split(".")[0] in PACKAGES} | {SHARED})


def known_cycles() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["offramp-gateway"]["app-cycles"]["known"]


def test_the_import_contracts_hold():
    broken = contracts_broken(ROOT)
    if broken:
        pytest.fail(broken, pytrace=False)


def test_no_import_cycle_between_apps_but_the_known_ones():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)

    cycles, stale = app_cycles(graph, project_apps(), known_cycles())

    for entry in stale:
        warnings.warn(f"pyproject.toml [tool.offramp-gateway.app-cycles]: {entry} is gone; "
                      "remove it from the known cycles", stacklevel=1)
    if cycles:
        pytest.fail("\n\n".join([
            *cycles, "Break the cycle (a service or selector of the imported app, a hook named "
            "in settings, or the shared piece moved to gateway.common); a cycle that must stay "
            "for now is listed, with its reason, in pyproject.toml "
            "[tool.offramp-gateway.app-cycles]."]), pytrace=False)


# The checks themselves, on small graphs and projects: they must name what breaks them.


def small_graph(imports: list[tuple[str, str, int, str]]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported, line_number, line_contents in imports:
        graph.add_import(importer=importer, imported=imported, line_number=line_number,
                         line_contents=line_contents)
    return graph


APPS = ["compliance", "compliance.cases", "gateway.common", "gateway.ledger", "gateway.partners",
        "ramps.payouts", "ramps.payouts.agents"]


def test_a_cycle_between_apps_names_every_import_on_its_way():
    graph = small_graph([
        ("gateway.ledger.services", "gateway.partners.models", 3, "from gateway.partners.models "
         "import Partner"),
        ("gateway.partners.services", "gateway.ledger.services", 12,
         "from gateway.ledger.services import ledger_entry_post"),
        ("gateway.partners.services", "gateway.common.money", 4,
         "from gateway.common import money"),
    ])

    cycles, stale = app_cycles(graph, APPS, [])

    assert cycles == ["\n".join([
        "Import cycle between apps: gateway.ledger -> gateway.partners -> gateway.ledger",
        "    gateway.ledger -> gateway.partners:",
        "        gateway/ledger/services.py:3: from gateway.partners.models import Partner",
        "    gateway.partners -> gateway.ledger:",
        "        gateway/partners/services.py:12: "
        "from gateway.ledger.services import ledger_entry_post"])]
    assert stale == []


def test_a_known_cycle_is_let_through_and_a_vanished_one_is_reported():
    graph = small_graph([
        ("compliance.sanctions.rescreen", "compliance.cases.services", 21, "from ..."),
        ("compliance.cases.services", "compliance.services", 20, "from ..."),
    ])

    assert app_cycles(graph, APPS, ["compliance -> compliance.cases"]) == ([], [])
    assert app_cycles(graph, APPS, ["compliance -> compliance.cases",
                                    "gateway.ledger -> gateway.partners"]) == (
        [], ["gateway.ledger -> gateway.partners"])


def test_an_app_inside_an_app_is_its_own_app_and_the_project_modules_are_not_an_app():
    graph = small_graph([
        ("ramps.payouts.agents.rail", "ramps.payouts.rails", 5, "from ramps.payouts import rails"),
        ("ramps.payouts.registry", "ramps.payouts.agents.rail", 9, "from ... import rail"),
        ("gateway.urls", "gateway.ledger.urls", 7, "include(...)"),
        ("gateway.ledger.tasks", "gateway.celery", 2, "from gateway.celery import app"),
    ])

    cycles, _ = app_cycles(graph, APPS, [])

    assert len(cycles) == 1
    assert cycles[0].startswith(
        "Import cycle between apps: ramps.payouts -> ramps.payouts.agents -> ramps.payouts")


def test_a_tangle_of_apps_is_shown_as_its_shortest_cycle_naming_the_others():
    graph = small_graph([
        ("gateway.ledger.a", "gateway.partners.a", 1, "import gateway.partners.a"),
        ("gateway.partners.b", "gateway.common.c", 1, "import gateway.common.c"),
        ("gateway.common.c", "gateway.ledger.b", 1, "import gateway.ledger.b"),
        ("gateway.ledger.a", "ramps.payouts.a", 1, "import ramps.payouts.a"),
        ("ramps.payouts.a", "gateway.ledger.a", 1, "import gateway.ledger.a"),
    ])

    cycles, _ = app_cycles(graph, APPS, [])

    assert len(cycles) == 1
    assert cycles[0].splitlines()[0] == (
        "Import cycle between apps: gateway.common -> gateway.ledger -> gateway.partners -> "
        "gateway.common (tangled with ramps.payouts)")


def small_project(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A project with this project's pyproject.toml and the given modules (dotted name ->
    source); every package on the way gets an ``__init__.py``."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    for package in ("gateway", "gateway.common", "ramps", "compliance"):
        modules.setdefault(f"{package}.__init__", "")
    for name, source in modules.items():
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        for parent in reversed(path.relative_to(tmp_path).parents[:-1]):
            (tmp_path / parent).mkdir(exist_ok=True)
            (tmp_path / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))
    return tmp_path


@pytest.mark.parametrize(("modules", "contract", "offending"), [
    ({"gateway.transfers.models": "", "gateway.common.money": "",
      "ramps.payouts.rail": "from gateway.common import money\n",
      "ramps.payouts.agents": "import json\n\nfrom gateway.transfers import models\n"},
     "ramps and compliance import nothing from gateway but gateway.common BROKEN",
     "ramps.payouts.agents -> gateway.transfers.models (l.3)"),
    ({"gateway.console.models": "",
      "gateway.common.audit": "def audit_record():\n    from gateway.console import models\n"},
     "gateway.common imports no app BROKEN",
     "gateway.common.audit -> gateway.console.models (l.2)"),
    ({"ramps.chain.models": "", "compliance.screening": "from ramps.chain import models\n"},
     "ramps and compliance do not import each other (gateway passes between them) BROKEN",
     "compliance.screening -> ramps.chain.models (l.1)"),
], ids=["rail-imports-transfers", "common-imports-console", "compliance-imports-ramps"])
def test_a_broken_contract_is_named_with_the_offending_import_and_its_line(
        tmp_path, modules, contract, offending):
    broken = contracts_broken(small_project(tmp_path, modules))

    assert contract in broken
    assert offending in broken
    assert "ramps.payouts.rail" not in broken  # importing gateway.common is allowed
