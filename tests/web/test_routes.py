"""The web view's routes through an ASGI client over a real FY2011 read-model database:
every page in both languages, the figures they show, 404 for unknown ids, 400 for
malformed queries, downloads that parse and page, and a read-only database."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from registry.audit.auditor import Auditor
from registry.audit.sources import ExportSource
from registry.scenario import partners, tokyo62
from registry.transparency.proof_verifier import verify_proof_document
from registry.web.app import WebConfig, create_app, read_only_engine
from tests.support.web_history import WebHistory

AKISHIMA = partners.AKISHIMA
BATCH = "JVER-JVERFOREST-20110401-20120331-001"


@pytest.fixture(scope="module")
def client(history: WebHistory) -> Iterator[TestClient]:
    app = create_app(WebConfig(history.projection_url, history.registry_key.public_key))
    with TestClient(app, raise_server_exceptions=False) as running:
        yield running


def kg(html: str, element_id: str) -> list[int]:
    """The data-kg figures inside the element with that id."""
    section = html.split(f'id="{element_id}"', 1)[1].split("</table>", 1)[0]
    return [int(value) for value in re.findall(r'data-kg="(-?[0-9]+)"', section)]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/parties",
        f"/parties/{AKISHIMA}",
        f"/parties/{tokyo62.OPERATOR}",
        "/classes/JVER",
        f"/projects/{tokyo62.PROJECT_ID}",
        f"/batches/{BATCH}",
        f"/pools/{tokyo62.POOL_ID}",
        f"/agreements/{partners.AGREEMENT}",
        "/search?q=昭島市",
        f"/search?batch={BATCH}&serial=1",
        "/log/1",
        "/data",
    ],
)
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_page_answers_in_both_languages_with_its_position(
    client: TestClient, history: WebHistory, path: str, lang: str
) -> None:
    response = client.get(path, params={"lang": lang})
    assert response.status_code == 200, response.text[:500]
    assert f'<html lang="{lang}">' in response.text
    assert f'data-position="{history.head}"' in response.text
    assert response.headers["x-projection-position"] == str(history.head)
    other = "en" if lang == "ja" else "ja"
    assert f"lang={other}" in response.text  # the language switch, a plain link
    assert (
        "<script" not in response.text
    )  # usable without JavaScript: no script outside certificates


def test_the_home_page_totals_add_up(client: TestClient) -> None:
    html = client.get("/").text
    issued, tradable, pending, retired, cancelled = kg(html, "totals-heading")
    assert issued == tradable + pending + retired + cancelled > 0
    assert retired >= 100_000  # the joint purchase, retired in full
    assert 'id="checkpoint-size"' in html and 'id="registry-public-key"' in html


def test_a_batch_shows_its_supply_and_who_holds_which_serials(client: TestClient) -> None:
    html = client.get(f"/batches/{BATCH}").text
    issued, tradable, pending, retired, cancelled = kg(html, "main")[:5]
    assert (issued, retired) == (100_000, 100_000) and tradable + pending + cancelled == 0
    ranges = re.findall(r">([0-9]+)–([0-9]+)</a></td><td><a href=\"/parties/", html)
    assert int(ranges[0][0]) == 1


def test_the_pool_page_shows_the_published_fy2011_subtotals(client: TestClient) -> None:
    html = client.get(f"/pools/{tokyo62.POOL_ID}?lang=en").text
    found = re.findall(r'<tr data-group="([^"]+)">.*?class="offset" data-kg="([0-9]+)"', html)
    rows = {unescape(label): kg for label, kg in found}
    assert rows == {
        "wards": "29300",
        "cities": "23000",
        "towns and villages": "7700",
        "total": "60000",
        "project's own events": "40000",
        "all offsets": "100000",
    }
    assert html.count("<tr data-code=") == 62 and "<svg" in html


def test_the_agreement_page_shows_both_signatures_and_the_fy2011_statement(
    client: TestClient,
) -> None:
    html = client.get(f"/agreements/{partners.AGREEMENT}?lang=en").text
    signers = re.findall(r'<tr><td><a href="/parties/([0-9]+)', html.split('id="signatures"')[1])
    assert sorted(signers[:2]) == sorted([partners.IWAIZUMI, partners.AKISHIMA])
    assert 'data-year="2011"' in html


def test_a_retirement_proof_verifies_with_the_standalone_verifier(
    client: TestClient, history: WebHistory
) -> None:
    html = client.get(f"/parties/{AKISHIMA}").text
    first = re.findall(r'class="retirement-link" href="/retirements/([0-9-]+)\?', html)[0]
    document = client.get(f"/retirements/{first}/proof.json").json()
    ok, message = verify_proof_document(document, history.registry_key.public_key)
    assert ok, message
    assert document["certificate"]["page"].endswith(f"/retirements/{first}")
    certificate = client.get(f"/retirements/{first}/certificate").text
    assert "<svg" in certificate and 'id="proof-document"' in certificate


@pytest.mark.parametrize(
    "path",
    [
        "/parties/nobody",
        "/classes/NOPE",
        "/projects/NOPE",
        "/batches/NOPE-X-20110401-20120331-001",
        "/pools/NOPE",
        "/agreements/NOPE",
        "/retirements/999999",
        "/retirements/999999/certificate",
        "/retirements/999999/proof.json",
        "/log/999999",
        "/no/such/page",
        "/data/pools/NOPE/allocation.csv",
    ],
)
def test_unknown_ids_are_a_404_page(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/?lang=fr", "lang must be one of"),
        ("/parties/%3Cscript%3E", "a party id must be"),
        ("/search?serial=12x", "serial must be a whole number"),
        ("/search?serial=5", "needs both the batch id and the serial number"),
        (f"/search?batch={BATCH}&serial=0", "serial must be between"),
        ("/search?q=" + "x" * 300, "at most 200 characters"),
        ("/retirements/abc", "a retirement id is a log position"),
        ("/log/0", "a log position is a whole number"),
        ("/data/retirements.xml", "downloads come as .csv or .json"),
        ("/data/retirements.csv?limit=100000", "limit must be between"),
        ("/data/balances.csv?after=a/b", "after must be PARTY/CLASS/VINTAGE"),
        (f"/batches/{BATCH}?after=-5", "after must be between"),
    ],
)
def test_malformed_queries_are_a_400_with_a_clear_message(
    client: TestClient, path: str, says: str
) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert says in response.text and "Traceback" not in response.text


def test_the_retirements_download_pages_through_every_row_once(client: TestClient) -> None:
    whole = list(csv.DictReader(io.StringIO(client.get("/data/retirements.csv").text)))
    seen: list[dict[str, str]] = []
    url: str | None = "/data/retirements.csv?limit=7"
    while url:
        response = client.get(url)
        seen += csv.DictReader(io.StringIO(response.text))
        link = response.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == whole and len(whole) > 80
    assert sum(int(r["quantity_kg"]) for r in whole) == sum(
        int(r["retired_kg"])
        for r in csv.DictReader(io.StringIO(client.get("/data/balances.csv").text))
    )


def test_the_allocation_download_sums_to_the_table(client: TestClient) -> None:
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/data/pools/{tokyo62.POOL_ID}/allocation.csv").text)
        )
    )
    members = [r for r in rows if r["row"] == "member"]
    assert len(members) == 62
    total = next(r for r in rows if r["name_ja"] == "total")
    assert sum(int(r["offset_kg"]) for r in members) == int(total["offset_kg"]) == 60_000
    as_json = client.get(f"/data/pools/{tokyo62.POOL_ID}/allocation.json").json()
    assert [r["offset_kg"] for r in as_json["rows"]] == [r["offset_kg"] for r in rows]


def test_the_avro_export_audits_clean(
    client: TestClient, history: WebHistory, tmp_path: Path
) -> None:
    path = tmp_path / "history.avro"
    path.write_bytes(client.get("/data/history.avro").content)
    key = history.registry_key
    report = Auditor({key.key_id: key.public_key}, progress=False).run(ExportSource(path))
    assert report.clean, report.discrepancies[:3]
    assert report.envelopes == history.head and report.summary.get("checkpoints_verified") == 1


def test_the_web_view_cannot_write_its_database(history: WebHistory) -> None:
    engine = read_only_engine(history.projection_url)
    with pytest.raises(sa.exc.OperationalError, match="readonly"), engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM parties"))


def test_a_missing_database_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no projection database"):
        read_only_engine(f"sqlite:///{tmp_path / 'absent.sqlite'}")
    assert not (tmp_path / "absent.sqlite").exists()


def test_what_a_visitor_sends_comes_back_escaped_under_a_strict_policy(client: TestClient) -> None:
    response = client.get("/search", params={"q": "<script>alert(1)</script>"})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text and "&lt;script&gt;alert(1)" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
