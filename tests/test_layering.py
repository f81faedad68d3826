"""Layering as a test: who may import whom inside the analytics package (CONTRIBUTING.md, "Module map").

Imports are read from the source with ast, function-level imports included, so a lazy import cannot
slip past. A module "imports" analytics.x when it names analytics.x or anything inside it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "analytics"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """The analytics modules `name` imports; "analytics" alone means the package face (__init__.py)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "analytics"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "analytics":
                continue
            for alias in node.names:  # `from . import api` imports a module; `from . import __version__` the face
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return found - {name}


def within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


# (importer layer, forbidden layers, why)
RULES = [
    ("analytics.engines", ["analytics.catalog", "analytics.api", "analytics.settings", "analytics.detectors",
                           "analytics.report", "analytics.notebook", "analytics.restore"],
     "an engine runs SQL text with bound values; it knows no catalog, settings or report"),
    ("analytics.detectors", ["analytics.engines", "analytics.report", "analytics.api", "analytics.catalog",
                             "analytics.settings", "analytics.notebook"],
     "a detector decides from rows; it knows no engine, SQL or report"),
    ("analytics.catalog", ["analytics.engines", "analytics.api", "analytics.report", "analytics.detectors",
                           "analytics.settings"], "the catalog reads query files, nothing more"),
    ("analytics.sqltext", ["analytics"], "the lexer is shared by the catalog and the engines and needs neither"),
    ("analytics.errors", ["analytics"], "every module imports errors, so errors imports none"),
    ("analytics.settings", ["analytics.engines", "analytics.api", "analytics.catalog", "analytics.report",
                            "analytics.detectors"], "settings are declared and resolved from data alone"),
    ("analytics.report", ["analytics.engines", "analytics.notebook", "analytics.restore"],
     "the report composes a session's queries and the detectors; it opens no engine itself"),
]


@pytest.mark.parametrize("layer, forbidden, why", RULES, ids=[r[0] for r in RULES])
def test_layers_import_only_downward(layer, forbidden, why):
    members = [m for m in MODULES if within(m, layer)]
    assert members, layer
    broken = [(m, target) for m in members for target in sorted(imports(m))
              if any(within(target, f) and not within(target, layer) for f in forbidden)]
    assert not broken, f"{why}: {broken}"


def test_nothing_imports_the_cli_or_the_package_face():
    # The CLI is the outermost layer: only `python -m analytics` starts it. The package face
    # (analytics/__init__.py) is for users; modules import what they need from its modules.
    broken = [(m, t) for m in MODULES for t in imports(m)
              if (within(t, "analytics.cli") and m != "analytics.__main__") or (t == "analytics" and m != "analytics")]
    assert not broken, broken


def test_the_import_reader_sees_imports():
    # Guard against a reader that finds nothing and so passes everything.
    assert "analytics.sqltext" in imports("analytics.engines.base")
    assert "analytics.detectors" in imports("analytics.report.run")
    assert "analytics.settings" in imports("analytics.api")
    assert "analytics.catalog" in imports("analytics.notebook")  # a function-level import
    assert "analytics.cli" in imports("analytics.__main__")
