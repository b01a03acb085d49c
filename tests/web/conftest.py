"""One FY2011 history per test session for the web view's tests (it takes a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.web_history import WebHistory, build_fy2011


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> WebHistory:
    return build_fy2011(Path(tmp_path_factory.mktemp("web-history")))
