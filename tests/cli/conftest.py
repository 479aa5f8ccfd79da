"""The `cli` fixture: the console script against the session's test database."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import Cli, Result, run_cli


@pytest.fixture(scope="session")
def cli(database_url: str) -> Cli:
    """Run the console script against the session's (migrated) test database."""

    def run(*args: str) -> Result:
        return run_cli(*args, database_url=database_url)

    return run
