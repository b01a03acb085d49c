"""The public web view in a real browser: `credit-registry web` (uvicorn, a localhost port)
serving a real FY2011 history, cosigned by two witnesses, driven in Debian's headless
Chromium by Playwright. The certificate's verify button runs verify.js on WebCrypto; its
verdicts, the registry's and each witness's, are compared with the standalone Python
verifier's on the same certificates, valid and altered.

These tests fail, never skip, when Chromium cannot start (scripts/browser.sh installs it).
Set CREDIT_REGISTRY_SCREENSHOTS to a directory to keep the screenshots (docs/screenshots)."""

from __future__ import annotations

import copy
import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from projections import party_queries
from registry.scenario import partners, tokyo62
from registry.transparency.proof_verifier import (
    key_id_of,
    verify_proof_document,
    witness_cosignatures,
)
from tests.support.web_history import WebHistory, build_fy2011

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("CREDIT_REGISTRY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BATCH = "JVER-JVERFOREST-20110401-20120331-001"
WITNESSES = ("iwaizumi-witness", "metropolitan-audit")
PUBLISHED_KG = {
    "wards": 29_300,
    "cities": 23_000,
    "towns and villages": 7_700,
    "total": 60_000,
    "project's own events": 40_000,
    "all offsets": 100_000,
}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> WebHistory:
    return build_fy2011(tmp_path_factory.mktemp("browser-history"), witnesses=WITNESSES)


@pytest.fixture(scope="module")
def site(history: WebHistory) -> Iterator[str]:
    """`credit-registry web` as a person starts it, on a free localhost port."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "registry.cli", "web"),
            *("--projection-url", history.projection_url),
            *("--listen", "127.0.0.1:0"),
            *("--registry-public-key", history.registry_key.public_key.hex()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"web view on (http://\S+)/", line)
    assert found, line + (process.stdout.read() if process.poll() is not None else "")
    try:
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            locale="ja-JP",  # Accept-Language: ja, as residents browse it
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    opened = browser.new_page()
    yield opened
    opened.close()


def shoot(page: Page, name: str, down_to: str | None = None) -> None:
    """A full-page PNG, or down to the bottom of the element `down_to` (long tables)."""
    directory = os.environ.get("CREDIT_REGISTRY_SCREENSHOTS")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    path = str(Path(directory) / f"{name}.png")
    if down_to is None:
        page.screenshot(path=path, full_page=True)
        return
    bottom = page.evaluate(
        "(id) => document.getElementById(id).getBoundingClientRect().bottom + window.scrollY + 24",
        down_to,
    )
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(
        path=path, full_page=True, clip={"x": 0, "y": 0, "width": width, "height": bottom}
    )


def test_search_for_akishima_then_verify_one_of_its_retirements(page: Page, site: str) -> None:
    page.goto(site + "/")
    expect(page.locator("#checkpoint-size")).to_be_visible()
    shoot(page, "home")
    page.fill("#quick-q", "昭島市")
    page.keyboard.press("Enter")  # the search form, from the keyboard
    expect(page.locator("#party-results")).to_contain_text("Akishima")
    shoot(page, "search")
    page.click(f"#party-results a[href^='/parties/{partners.AKISHIMA}']")
    expect(page.locator("#party-name")).to_contain_text("昭島市")
    shoot(page, "municipality")
    page.locator("#retirements-received a.retirement-link").first.click()
    expect(page.locator("#beneficiary")).to_be_visible()
    page.click("#certificate-link")
    page.focus("#verify")
    page.keyboard.press("Enter")
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-result", "valid")
    expect(verdict).to_contain_text("included: position")
    shoot(page, "certificate")


def flip(hex_text: str) -> str:
    """One hex digit changed (the 41st): the bytes differ, the text stays hex."""
    return ("1" if hex_text[40] == "0" else "0").join((hex_text[:40], hex_text[41:]))


def _alterations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    altered: dict[str, dict[str, Any]] = {}
    for name, change in {
        "envelope": lambda d: d.update(sealed_envelope=flip(d["sealed_envelope"])),
        "path": lambda d: d["path"].__setitem__(0, flip(d["path"][0])),
        "position": lambda d: d.update(position=d["position"] - 1),
        "root": lambda d: d["checkpoint"].update(root=flip(d["checkpoint"]["root"])),
        "signature": lambda d: d["checkpoint"].update(signature=flip(d["checkpoint"]["signature"])),
        "tree size": lambda d: d["checkpoint"].update(tree_size=d["checkpoint"]["tree_size"] + 1),
    }.items():
        copied = copy.deepcopy(document)
        change(copied)
        altered[name] = copied
    return altered


def a_meetings_retirement(page: Page, site: str) -> str:
    """The pool retires each meeting's share from its own holding, on the organiser's behalf."""
    page.goto(site + f"/pools/{tokyo62.POOL_ID}")
    href = page.locator("#meetings a[href*='/retirements/']").first.get_attribute("href")
    assert href is not None
    return href.split("?")[0].rsplit("/", 1)[1]


def test_an_altered_certificate_is_not_valid_in_the_browser_nor_in_python(
    page: Page, site: str, history: WebHistory
) -> None:
    rid = a_meetings_retirement(page, site)
    document = page.request.get(site + f"/retirements/{rid}/proof.json").json()
    key = history.registry_key.public_key
    page.goto(site + f"/retirements/{rid}/certificate")
    check = "([doc, key]) => window.creditRegistry.verifyDocument(doc, key)"
    assert page.evaluate(check, [document, key.hex()])["ok"] is True
    assert verify_proof_document(document, key)[0] is True
    for name, altered in _alterations(document).items():
        in_browser = page.evaluate(check, [altered, key.hex()])
        assert in_browser["ok"] is False, name
        assert verify_proof_document(altered, key)[0] is False, name
    # The page itself, with its embedded certificate altered: the button says not valid.
    page.evaluate(
        """(altered) => { document.getElementById('proof-document').textContent =
            JSON.stringify(altered); }""",
        _alterations(document)["envelope"],
    )
    page.click("#verify")
    expect(page.locator("#verdict")).to_have_attribute("data-result", "not-valid")


Line = tuple[str, str, bool]  # witness id, key id, cosignature valid


def in_python(document: dict[str, Any]) -> list[Line]:
    """What the standalone verifier finds of each cosignature (its own code, not verify.js)."""
    return [
        (witness_id, key_id_of(key) if key else "", valid)
        for witness_id, key, valid in witness_cosignatures(document)
    ]


def shown(page: Page) -> list[Line]:
    """The witness lines the verify button wrote, in order."""
    items = page.locator("#witness-verdicts li")
    return [
        (
            str(items.nth(i).get_attribute("data-witness-id")),
            str(items.nth(i).get_attribute("data-key-id")),
            items.nth(i).get_attribute("data-result") == "valid",
        )
        for i in range(items.count())
    ]


def press_verify(page: Page, document: dict[str, Any] | None = None) -> None:
    """Click verify, on the page's own certificate or on `document` put in its place."""
    if document is not None:
        page.evaluate(
            "(d) => { document.getElementById('proof-document').textContent = JSON.stringify(d); }",
            document,
        )
    page.click("#verify")
    expect(page.locator("#verdict")).not_to_have_text("…")


def test_the_verify_button_finds_each_witness_cosignature_valid_as_python_does(
    page: Page, site: str, history: WebHistory
) -> None:
    rid = a_meetings_retirement(page, site)
    document = page.request.get(site + f"/retirements/{rid}/proof.json").json()
    expected = sorted((w, key_id_of(key), True) for w, key in history.witness_keys.items())
    assert len(expected) == len(WITNESSES)
    assert sorted(in_python(document)) == expected  # both witnesses cosigned this checkpoint
    page.goto(site + f"/retirements/{rid}/certificate")  # in Japanese, the browser's language
    press_verify(page)
    expect(page.locator("#verdict")).to_have_attribute("data-result", "valid")
    expect(page.locator("#witness-verdicts li")).to_have_count(len(WITNESSES))
    assert shown(page) == in_python(document)
    for item in page.locator("#witness-verdicts li").all():
        expect(item).to_contain_text("連署は有効です")
        expect(item).to_have_attribute("data-result", "valid")
    for witness_id, key in history.witness_keys.items():
        expect(
            page.locator(f"#witness-verdicts li[data-witness-id='{witness_id}']")
        ).to_contain_text(key_id_of(key))


def _cosignature_alterations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each changes the first cosignature, or what every cosignature is over."""
    altered: dict[str, dict[str, Any]] = {}
    for name, change in {
        "signature": lambda e, _c: e.update(signature=flip(e["signature"])),
        "public key": lambda e, _c: e.update(public_key=flip(e["public_key"])),
        "witness name": lambda e, _c: e.update(witness_id=e["witness_id"] + "x"),
        "short signature": lambda e, _c: e.update(signature=e["signature"][:-2]),
        "not hex": lambda e, _c: e.update(signature="zz" + e["signature"][2:]),
        "no key": lambda e, _c: e.pop("public_key"),
        "root": lambda _e, c: c.update(root=flip(c["root"])),
        "tree size": lambda _e, c: c.update(tree_size=c["tree_size"] - 1),
    }.items():
        copied = copy.deepcopy(document)
        change(copied["witness_cosignatures"][0], copied["checkpoint"])
        altered[name] = copied
    return altered


def test_an_altered_cosignature_shows_that_witness_not_valid_in_the_browser_and_in_python(
    page: Page, site: str, history: WebHistory
) -> None:
    rid = a_meetings_retirement(page, site)
    document = page.request.get(site + f"/retirements/{rid}/proof.json").json()
    page.goto(site + f"/retirements/{rid}/certificate?lang=en")
    check = "(doc) => window.creditRegistry.verifyWitnesses(doc)"
    for name, altered in _cosignature_alterations(document).items():
        expected = in_python(altered)
        assert expected[0][2] is False, name
        found = page.evaluate(check, altered)
        assert [(f["witness_id"], f["key_id"], f["ok"]) for f in found] == expected, name

    # The page itself, its first cosignature's bytes altered: that witness is not valid, in
    # red; the other stays valid, and the verdict on the registry's proof is unchanged.
    bent = _cosignature_alterations(document)["signature"]
    expected = in_python(bent)
    assert [valid for _id, _key, valid in expected] == [False, True]
    assert verify_proof_document(bent, history.registry_key.public_key)[0] is True
    press_verify(page, bent)
    expect(page.locator("#verdict")).to_have_attribute("data-result", "valid")
    assert shown(page) == expected
    first, second = page.locator("#witness-verdicts li").all()
    expect(first).to_have_attribute("data-result", "not-valid")
    expect(first).to_contain_text(f"{expected[0][0]} {expected[0][1]}: cosignature not valid")
    expect(first).to_have_css("color", "rgb(132, 32, 41)")  # --bad
    expect(second).to_contain_text(f"{expected[1][0]} {expected[1][1]}: cosignature valid")
    shoot(page, "certificate-witnesses", down_to="witness-verdicts")

    # Verified again, unaltered: both valid once more (nothing is left from the last run).
    press_verify(page, document)
    assert shown(page) == in_python(document)
    assert all(valid for _id, _key, valid in shown(page))


def test_a_serial_search_finds_the_kilograms_holder_and_its_history(
    page: Page, site: str, history: WebHistory
) -> None:
    serial = 50_000
    with sa.create_engine(history.projection_url).connect() as connection:
        holder = party_queries.holder_of(connection, BATCH, serial)
    assert holder is not None
    page.goto(site + "/search?lang=en")
    page.fill("#batch", BATCH)
    page.fill("#serial", str(serial))
    page.click("form.search button[type=submit]")
    expect(page.locator("#kilogram-holder")).to_contain_text(holder.owner_id)
    expect(page.locator("#kilogram-holder")).to_contain_text("Retired")
    actions = page.locator("#history tbody tr td:nth-child(2)").all_inner_texts()
    assert actions == ["issued", "transferred", "pooled", "retired"]


def _subtotals(page: Page) -> dict[str, int]:
    rows = page.locator("#subtotals tbody tr")
    return {
        str(rows.nth(i).get_attribute("data-group")): int(
            str(rows.nth(i).locator("td.offset").get_attribute("data-kg"))
        )
        for i in range(rows.count())
    }


def test_the_pool_page_subtotals_equal_the_fy2011_figures_and_its_csv_sums_to_them(
    page: Page, site: str
) -> None:
    page.goto(site + f"/pools/{tokyo62.POOL_ID}?lang=en")
    assert _subtotals(page) == PUBLISHED_KG
    expect(page.locator("svg.chart")).to_be_visible()
    shoot(page, "pool", down_to="subtotals")
    text = page.evaluate(
        "(url) => fetch(url).then((r) => r.text())",
        f"/data/pools/{tokyo62.POOL_ID}/allocation.csv",
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    members = [r for r in rows if r["row"] == "member"]
    assert len(members) == 62
    table = [
        int(str(cell.get_attribute("data-kg")))
        for cell in page.locator("#allocation tbody tr td:nth-child(7)").all()
    ]
    assert [int(r["offset_kg"]) for r in members] == table
    assert sum(table) == PUBLISHED_KG["total"]


def test_the_pages_work_from_the_keyboard_and_switch_language(page: Page, site: str) -> None:
    page.goto(site + "/?lang=en")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.click("a[hreflang=ja]")
    assert page.evaluate("document.documentElement.lang") == "ja"
    expect(page.locator("h1")).to_contain_text("登録簿")
