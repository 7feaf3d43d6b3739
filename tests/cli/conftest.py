"""The CLI tests' fixtures (a temp working directory, fake providers) for the tests here."""

from tests.test_cli import env, fakes

__all__ = ["env", "fakes"]
