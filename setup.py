"""Package discovery: every package under analytics/, plus those mapped in from other folders.

pyproject.toml cannot combine setuptools' package finder with packages whose folders lie outside
the package tree (`analytics.queries` is the top-level `queries/`, `analytics.report.example_rules`
is `examples/rules/`: see its [tool.setuptools.package-dir]), so the finder runs here, and the
mapped packages are taken from that table; everything else is declared in pyproject.toml.
"""

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

mapped = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
    "package-dir"]
setup(packages=find_packages(include=["analytics", "analytics.*"]) + sorted(mapped))
