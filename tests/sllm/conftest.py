from __future__ import annotations

import pytest

from serverless_support import stack_fixture


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """One ServerlessLLM stack for this package's tests; the destructive ones run last (test_zz_*)."""
    yield from stack_fixture(tmp_path_factory)
