"""The toolkit's version, in a module of its own so that any module can name it without importing the
package face (analytics/__init__.py), and setuptools reads it from here (pyproject.toml)."""

__version__ = "0.1.0"
