"""The CLI's tests use the end-to-end fixtures: a project per test and a real git repository."""

from tests.e2e.conftest import git_repo, runs

__all__ = ["git_repo", "runs"]
