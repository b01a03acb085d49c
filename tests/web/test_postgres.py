"""The web view over read models in a real PostgreSQL database (the chart's shape): the same
pages and proofs as on SQLite, and every transaction of the web view read-only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.log.embedded import EmbeddedLog
from registry.scenario import tokyo62
from registry.transparency.proof_verifier import verify_proof_document
from registry.web.app import WebConfig, create_app, read_only_engine
from tests.support.web_history import WebHistory, build_fy2011

pytestmark = pytest.mark.postgres


@pytest.fixture
def on_postgres(postgres_url: str, tmp_path: Path) -> Iterator[tuple[WebHistory, str]]:
    history = build_fy2011(tmp_path / "history")
    store = ProjectionStore(postgres_url)
    catch_up_embedded(store, EmbeddedLog(sa.create_engine(history.database_url)))
    store.engine.dispose()
    yield history, postgres_url


def test_the_pages_and_proofs_from_postgresql(on_postgres: tuple[WebHistory, str]) -> None:
    history, url = on_postgres
    app = create_app(WebConfig(url, history.registry_key.public_key))
    with TestClient(app, raise_server_exceptions=False) as client:
        home = client.get("/")
        assert home.status_code == 200 and f'data-position="{history.head}"' in home.text
        pool = client.get(f"/pools/{tokyo62.POOL_ID}?lang=en").text
        assert 'data-group="all offsets"' in pool and 'data-kg="100000"' in pool
        party = client.get(f"/parties/{tokyo62.OPERATOR}").text
        first = re.findall(r'class="retirement-link" href="/retirements/([0-9-]+)\?', party)[0]
        document = client.get(f"/retirements/{first}/proof.json").json()
        assert verify_proof_document(document, history.registry_key.public_key)[0]
        batch = "JVER-JVERFOREST-20110401-20120331-001"
        found = client.get(f"/search?batch={batch}&serial=50000&lang=en").text
        assert found.count("<td>transferred</td>") == 1 and "<td>retired</td>" in found
        assert client.get("/data/retirements.csv?limit=5").headers["link"]


def test_the_web_views_transactions_are_read_only(on_postgres: tuple[WebHistory, str]) -> None:
    _history, url = on_postgres
    engine = read_only_engine(url)
    with pytest.raises(sa.exc.DBAPIError, match="read-only"), engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM parties"))
