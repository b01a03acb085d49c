"""Origins, labels, buffers and retirement locations in the public view, over a history of
their own: a J-VER batch issued again with its national-registry origin and labelled, a
forest batch with a buffer and a reversal, and a retirement naming its place and the label
it required."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.domain import commands as c
from registry.domain.events import Beneficiary, Origin
from registry.envelope.keys import SigningKey
from registry.scenario import tokyo62
from registry.web.app import WebConfig, create_app
from registry.write.application import RegistryApplication
from tests.support.programme import Programme, project

AUTHORITY, AKISHIMA = "icvcm-labels", "132071"
ORIGIN = Origin("JP-JVER", "JVER-0012", 12_001, 22_000)
LABELLED = "LABELLED-JVERJ-20110401-20120331-001"
FORESTED = "FORESTB-IWAIZUMI-20110401-20120331-001"
VINTAGE = (date(2011, 4, 1), date(2012, 3, 31))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    directory = Path(tmp_path_factory.mktemp("attributes"))
    key = SigningKey.generate()
    programme = Programme(RegistryApplication(f"sqlite:///{directory / 'r.sqlite'}", key))
    programme.setup()
    operator, provider = tokyo62.OPERATOR, tokyo62.PROVIDER
    public_key = programme.signer(AUTHORITY).key.public_key
    programme.ok(operator, [c.RegisterParty(AUTHORITY, "issuer", "ICVCM", public_key)])
    programme.ok(
        operator,
        [
            c.RegisterCreditClass("LABELLED", "J-VER, labelled", (provider,), AUTHORITY),
            c.RegisterCreditClass("FORESTB", "Forest with a buffer", (provider,), None, 100),
        ],
    )
    programme.ok(
        provider,
        [
            c.RegisterProject("JVERJ", "LABELLED", "Forest", "Iwate", "FM", provider),
            c.RegisterProject("IWAIZUMI", "FORESTB", "Town forest", "Iwate", "FM", provider),
            c.IssueCredits("JVERJ", *VINTAGE, 10_000, AKISHIMA, ORIGIN),
            c.IssueCredits("IWAIZUMI", *VINTAGE, 20_000, AKISHIMA),
        ],
    )
    programme.ok(AUTHORITY, [c.AddLabel(LABELLED, 1, 4_000, "ICVCM-CCP", *_valid())])
    programme.ok(provider, [c.ReportReversal("IWAIZUMI", 1_500, "storm damage")])
    details = c.RetirementDetails(
        Beneficiary("昭島市", AKISHIMA), "facility", 2011, "", None, "132071", "ICVCM-CCP"
    )
    programme.ok(AKISHIMA, [c.RetireCredits(AKISHIMA, 3_000, details, LABELLED)])
    programme.app.record_checkpoint()
    project(f"sqlite:///{directory / 'r.sqlite'}", directory)
    config = WebConfig(f"sqlite:///{directory / 'projections.sqlite'}", key.public_key)
    with TestClient(create_app(config), raise_server_exceptions=False) as running:
        yield running


def _valid() -> tuple[date, date]:
    return date(2020, 4, 1), date(2099, 3, 31)


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with that id (its tag closes at the first of its kind)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>', html)
    assert found, f"no element {element_id}"
    inner = html[found.end() :].split(f"</{found.group(1)}>", 1)[0]
    return unescape(re.sub(r"<[^>]+>", " ", inner))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_batch_page_shows_origin_labels_and_buffer(client: TestClient, lang: str) -> None:
    html = client.get(f"/batches/{LABELLED}?lang={lang}").text
    assert text_of(html, "origin").split() == [
        "JP-JVER",
        "·",
        "JVER-0012",
        "·",
        "12001–22000",
        "kg",
    ]
    labels = text_of(html, "labels")
    assert "ICVCM-CCP" in labels and "1–4000" in labels and "2099-03-31" in labels
    forest = client.get(f"/batches/{FORESTED}?lang={lang}").text
    assert 'id="buffer-held" data-kg="500"' in forest  # 2,000 withheld, 1,500 reversed
    assert 'id="origin"' not in forest


def test_the_project_page_shows_its_buffer_and_reversals(client: TestClient) -> None:
    html = client.get("/projects/IWAIZUMI?lang=en").text
    assert 'id="buffer-held" data-kg="500"' in html
    assert 'id="buffer-reversed" data-kg="1500"' in html
    assert 'id="buffer-shortfall" data-kg="0"' in html
    assert "storm damage" in text_of(html, "reversals")


def test_the_retirement_page_shows_its_location_and_labels(client: TestClient) -> None:
    home = client.get("/?lang=en").text
    (retirement_id,) = set(
        re.findall(r'class="retirement-link" href="/retirements/([0-9-]+)', home)
    )
    for path in (f"/retirements/{retirement_id}", f"/retirements/{retirement_id}/certificate"):
        html = client.get(f"{path}?lang=en").text
        assert text_of(html, "location").strip() == "132071"
        assert text_of(html, "required-label").strip() == "ICVCM-CCP"
        carried = " ".join(text_of(html, "labels-carried").split())
        assert f"ICVCM-CCP: {LABELLED} 1–3000" in carried
