"""Package discovery: every package under analytics/, plus those mapped in from other folders.

pyproject.toml cannot combine setuptools' package finder with packages whose folders lie outside
the package tree (`analytics.queries` is the top-level `queries/`, `analytics.report.example_rules`
is `examples/rules/`: see its [tool.setuptools.package-dir]), so the finder runs here, and the
mapped packages are taken from that table; everything else is declared in pyproject.toml.
"""

import shutil
import tomllib
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class FreshBuildPy(build_py):
    """Copy the package into an empty build/lib. setuptools copies over what an earlier build left
    and never removes a file, so `pip install .` in an updated checkout would still ship a query
    or a module deleted since (a catalog answering with a query that no longer exists)."""

    def run(self):
        if not self.editable_mode:
            shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()


mapped = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
    "package-dir"]
setup(packages=find_packages(include=["analytics", "analytics.*"]) + sorted(mapped),
      cmdclass={"build_py": FreshBuildPy})
