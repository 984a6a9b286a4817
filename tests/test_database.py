import pytest

from agentmem.core.database import require_pgvector
from agentmem.core.errors import ConfigurationError


def test_pgvector_08_and_later_accepted() -> None:
    assert require_pgvector("0.8.2") == "0.8.2"
    assert require_pgvector("1.0.0") == "1.0.0"


@pytest.mark.parametrize("version", ["0.6.2", "0.7.4"])
def test_old_pgvector_refused_with_a_fix(version: str) -> None:
    with pytest.raises(ConfigurationError, match=r"too old.*>= 0.8"):
        require_pgvector(version)


def test_missing_pgvector_refused() -> None:
    with pytest.raises(ConfigurationError, match="not available"):
        require_pgvector(None)
