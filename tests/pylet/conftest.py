from __future__ import annotations

import pytest

from serverless_support import stack_fixture


@pytest.fixture(scope="session")
def stack(request, tmp_path_factory):
    """The lab's ServerlessLLM stack, shared with the other package (see serverless_support)."""
    return stack_fixture(request, tmp_path_factory)
