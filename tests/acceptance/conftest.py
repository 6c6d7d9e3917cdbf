from collections.abc import Iterator

import pytest

from deployer.engine import Engine


@pytest.fixture(scope="session", autouse=True)
def _cleanup_after_cli_tests(engine: Engine) -> Iterator[None]:
    """The CLI tests make images and containers too; the engine fixture removes them."""
    yield
