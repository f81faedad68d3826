"""Package discovery: every package under analytics/, plus the catalog mapped in from queries/.

pyproject.toml cannot combine setuptools' package finder with a package whose folder lies outside
the package tree (`analytics.queries` is the top-level `queries/`, see its [tool.setuptools.package-dir]),
so the finder runs here; everything else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["analytics", "analytics.*"]) + ["analytics.queries"])
