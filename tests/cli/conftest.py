"""The CLI's tests use the end-to-end fixture `runs` (a project per test) and tests/conftest.py's
real git repository."""

from tests.e2e.conftest import runs

__all__ = ["runs"]
