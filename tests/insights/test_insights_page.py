"""The insights page as a mall's staff use it: a sign-in link made by the partner API or by ``shoa malls
insights-link``, opened in a browser, then the page read as they read it.

The first test is the whole story in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
Selenium with an explicit driver path, so nothing is downloaded): shoppers and devices send events through
``POST /v1/events``, a shopper pays an order, the worker's roll-up job runs, a ``shoa serve`` serves the page over
HTTP, and the figures read off the page (the funnel, a heat-map cell, a suppressed cell, the top product, the
totals) are those the test sent. The others prove the sign-in's edges and the page's protections over the app.
"""

from __future__ import annotations

import asyncio
import datetime
import html
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy.ext.asyncio import async_sessionmaker

from accounts.segments import KOREA, korea_today
from catalog import keys
from catalog.models import Product
from insights.jobs import roll_up_events
from shoa_api.pages.charts import SUPPRESSED_MARK
from shoa_api.pages.sign_in import COOKIE_NAME, PAGE_PATH, link_url, sign_in_from
from shoa_kernel.clock import utc_now
from tests.conftest import TEST_SECRET_KEY, create_search_index
from tests.orders.conftest import PartnerMall, pay_by_card, place_order, product, variant
from tests.orders.conftest import many_shoppers as many_shoppers  # noqa: PLC0414 - a fixture used here

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from selenium.webdriver.remote.webdriver import WebDriver
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Shopper

ROOT = Path(__file__).resolve().parents[2]
INSTALL = (
    "install Debian's chromium and chromium-driver: `apt-get install chromium chromium-driver` (make test does it)"
)
LINKS = "/partner/v1/insights/links"
EVENING = 21
MALICIOUS_NAME = "<script>alert('몰')</script> 니트"
"""A product's name as a careless (or hostile) mall may send it."""
"""The Korean hour of yesterday the shoppers of the story came at."""


def kst_yesterday(hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime.combine(korea_today(utc_now()) - datetime.timedelta(days=1), datetime.time(hour, minute),
                                     KOREA)  # fmt: skip


# --- Serving the app over HTTP, and the browser ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(services: Services, tmp_path: Path) -> Iterator[str]:
    """``shoa serve`` on the test's database and Redis, as production runs it; its base URL."""
    create_search_index(tmp_path / "search")
    environ = {**os.environ, **services.environ(SHOA_SEARCH_DIR=str(tmp_path / "search"))}
    environ.pop("SHOA_TEST_DATABASE_URL", None)
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "shoa_api", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while not _answers(base):
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield base
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/live", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium from Debian's packages, through their chromedriver: never a browser download."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        missing = " and ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", chromedriver)) if not path
        )
        pytest.fail(f"the insights page's browser test needs {missing}: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400",
                     "--lang=ko-KR", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    # Both paths given: Selenium Manager (which would download a browser and a driver) never runs.
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def a_message_holding(link: str) -> str:
    """A page of another site holding the link, as a webmail or a messenger's web app shows it."""
    return "data:text/html;charset=utf-8," + quote(
        f'<!doctype html><title>메일</title><p>인사이트 링크입니다: <a href="{html.escape(link)}">인사이트 보기</a></p>'
    )


# --- The story --------------------------------------------------------------------------------------------------


async def insights_key(session: AsyncSession, mall: PartnerMall) -> str:
    issued = await keys.issue_key(session, mall_id=mall.id, name="staff page", scopes=["insights:read"])
    await session.commit()
    return issued.key


async def send(
    client: ShoaClient, kind: str, product_id: uuid.UUID, at: datetime.datetime, headers: dict[str, str]
) -> None:
    body = {"events": [{"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id),
                        "occurred_at": at.isoformat()}]}  # fmt: skip
    response = await client.post("/v1/events", json=body, headers=headers)
    assert (response.status_code, response.json()["accepted"]) == (200, 1), response.text


async def catalog_product_id(session: AsyncSession, external_id: str) -> uuid.UUID:
    found = await session.scalar(sa.select(Product.id).where(Product.external_id == external_id))
    assert found is not None, external_id
    return found


async def women_in_their_early_20s(make: Callable[[int], Awaitable[list[Shopper]]], count: int) -> list[Shopper]:
    shoppers = await make(count)
    born = datetime.date(korea_today(utc_now()).year - 22, 1, 1)  # 21 or 22: 20대 초반 either way
    for shopper in shoppers:
        answer = await shopper.call("PATCH", "/v1/me", {"gender": "female", "birth_date": born.isoformat()})
        assert answer.status_code == 200, answer.text
    return shoppers


async def test_staff_read_what_shoppers_did_off_the_page_in_a_browser(
    catalog: Catalog,
    client: ShoaClient,
    session: AsyncSession,
    engine: AsyncEngine,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
    served: str,
    browser: WebDriver,
) -> None:
    dress, slacks = catalog.products["H1"], catalog.products["H2"]
    knit_variant = variant("X1-F", price=25_000, stock=5, color="블랙", size="FREE")
    await catalog.malls.haru.sync(product("X1", MALICIOUS_NAME, "상의/니트", knit_variant))
    knit = await catalog_product_id(session, "X1")
    women = await women_in_their_early_20s(many_shoppers, 6)
    sent: list[tuple[str, uuid.UUID]] = []
    for number, woman in enumerate(women):
        at = kst_yesterday(EVENING, 5 + number)
        plan = [("view", dress)] + [("like", dress)] * (number < 4) + [("add_to_cart", dress)] * (number < 3)
        plan += [("view", slacks), ("view", knit)] * (number < 5)
        for kind, product_id in plan:
            await send(client, kind, product_id, at, woman.headers)
            sent.append((kind, product_id))
    devices = [f"device-{n}-android" for n in range(3)]  # anonymous, and too few to be shown
    for device in devices:
        await send(client, "view", dress, kst_yesterday(EVENING, 40), {"X-Device-Id": device})
        sent.append(("view", dress))
    await pay_by_card(women[0], await place_order(women[0], {catalog.variant("H1-BK-M"): 1}))
    sent.append(("purchase", dress))
    await roll_up_events(
        async_sessionmaker(engine, expire_on_commit=False), now=utc_now() + datetime.timedelta(hours=2)
    )
    key = await insights_key(session, catalog.malls.haru)

    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        made = await http.post(LINKS, headers={"Authorization": f"Bearer {key}"})
    assert made.status_code == 201, made.text
    link = made.json()["url"]
    assert link.startswith(f"{served}{PAGE_PATH}?token=")
    browser.get(a_message_holding(link))  # the staff member's mail, on another site
    browser.find_element(By.LINK_TEXT, "인사이트 보기").click()
    WebDriverWait(browser, 10).until(lambda driver: driver.title != "메일")

    assert browser.current_url == f"{served}{PAGE_PATH}"  # the link left the address bar
    assert browser.title == "하루일상 인사이트 · Shoa"
    funnel = {
        step: browser.find_element(By.CSS_SELECTOR, f"svg#funnel text.funnel-value[data-step='{step}']").text
        for step in ("views", "likes", "carts", "purchases")
    }
    counts = {kind: sum(1 for sent_kind, _ in sent if sent_kind == kind) for kind in ("view", "like", "add_to_cart")}
    assert funnel == {"views": str(counts["view"]), "likes": str(counts["like"]), "carts": str(counts["add_to_cart"]),
                      "purchases": "1"}  # fmt: skip
    assert (counts["view"], counts["like"], counts["add_to_cart"]) == (19, 4, 3)
    assert (
        browser.find_element(By.CSS_SELECTOR, "svg#funnel").get_attribute("aria-labelledby")
        == "funnel-title funnel-desc"
    )

    women_at_nine = browser.find_element(
        By.CSS_SELECTOR, f"svg#age-hour g.heatmap-cell[data-row='20s_early'][data-column='{EVENING}'] text"
    )
    assert women_at_nine.text == str(len(women))
    devices_at_nine = browser.find_element(
        By.CSS_SELECTOR, f"svg#age-hour g.heatmap-cell[data-row='unknown'][data-column='{EVENING}']"
    )
    assert devices_at_nine.get_attribute("data-suppressed") == "true"
    assert devices_at_nine.find_element(By.TAG_NAME, "text").text == SUPPRESSED_MARK
    assert "5명 미만" in browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='age-hour-h'] p.legend").text

    top_for_everyone = browser.find_element(By.CSS_SELECTOR, "table#top-all tbody tr:first-child th").text
    top_for_women = browser.find_element(By.CSS_SELECTOR, "table#top-female-20s_early tbody tr:first-child th").text
    assert top_for_everyone == top_for_women == "린넨 셔츠 원피스"
    totals = {key: browser.find_element(By.CSS_SELECTOR, f"dd[data-total='{key}']").text
              for key in ("shoppers", "views", "purchases", "revenue")}  # fmt: skip
    assert totals == {"shoppers": f"{len(women) + len(devices)}명", "views": "19", "purchases": "1",
                      "revenue": "39,000원"}  # fmt: skip
    names = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table#top-all tbody th")]
    assert MALICIOUS_NAME in names  # shown as the mall wrote it, as text
    assert browser.find_elements(By.TAG_NAME, "script") == []


# --- Signing in -------------------------------------------------------------------------------------------------


async def _link(client: ShoaClient, key: str) -> str:
    made = await client.post(LINKS, headers={"Authorization": f"Bearer {key}"})
    assert made.status_code == 201, made.text
    url: str = made.json()["url"]
    return url


def _set_cookie(response: httpx.Response) -> dict[str, Any]:
    jar = SimpleCookie(response.headers["set-cookie"])
    morsel = jar[COOKIE_NAME]
    return {"path": morsel["path"], "httponly": bool(morsel["httponly"]), "secure": bool(morsel["secure"]),
            "samesite": morsel["samesite"].lower(), "max-age": morsel["max-age"]}  # fmt: skip


async def test_a_link_signs_in_once_with_a_cookie_for_the_page_alone(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    url = await _link(client, await insights_key(session, catalog.malls.haru))

    opened = await client.get(url, follow_redirects=False)

    assert (opened.status_code, opened.headers["location"]) == (303, PAGE_PATH)
    assert _set_cookie(opened) == {"path": PAGE_PATH, "httponly": True, "secure": False, "samesite": "strict",
                                   "max-age": str(8 * 3600)}  # fmt: skip
    page = await client.get(PAGE_PATH)
    assert page.status_code == 200
    assert "<h1>하루일상 인사이트</h1>" in page.text
    again = await httpx.AsyncClient(transport=client._transport, base_url="http://shoa.test").get(url)
    assert again.status_code == 401
    assert "이미 사용된 링크입니다" in again.text


async def test_a_link_opened_from_another_site_moves_on_by_itself_so_the_strict_cookie_is_sent(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    url = await _link(client, await insights_key(session, catalog.malls.haru))

    opened = await client.get(url, headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})

    assert opened.status_code == 200  # not a redirect: its navigation would still count as the other site's
    assert _set_cookie(opened)["samesite"] == "strict"
    assert f'<meta http-equiv="refresh" content="0; url={PAGE_PATH}">' in opened.text
    assert f'<a href="{PAGE_PATH}">' in opened.text
    assert "<h1>하루일상 인사이트</h1>" in (await client.get(PAGE_PATH)).text


async def test_over_https_the_cookie_is_secure(catalog: Catalog, client: ShoaClient, session: AsyncSession) -> None:
    url = await _link(client, await insights_key(session, catalog.malls.haru))

    opened = await client.get(url.replace("http://", "https://"), follow_redirects=False)

    assert opened.status_code == 303
    assert _set_cookie(opened)["secure"] is True


async def test_an_expired_tampered_or_missing_sign_in_is_a_page_saying_so(
    catalog: Catalog, client: ShoaClient, session: AsyncSession, settings: Settings
) -> None:
    signer = sign_in_from(settings.security)
    expired, _ = signer.issue_link(catalog.malls.haru.id, now=utc_now() - datetime.timedelta(minutes=16))
    good, _ = signer.issue_link(catalog.malls.haru.id, now=utc_now())
    session_token, _ = signer.issue_session(catalog.malls.haru.id, now=utc_now())
    cases = {
        "링크가 만료되었습니다": link_url("http://shoa.test", expired),
        "올바르지 않은 링크입니다": link_url("http://shoa.test", good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")),
        "올바르지 않은 링크입니다 ": link_url("http://shoa.test", session_token),  # a session is no link
        "로그인이 필요합니다": f"http://shoa.test{PAGE_PATH}",
    }

    for heading, url in cases.items():
        answer = await client.get(url, follow_redirects=False)
        assert answer.status_code == 401, (heading, answer.text)
        assert answer.headers["content-type"].startswith("text/html"), heading
        assert f"<h1>{heading.strip()}</h1>" in answer.text, heading
        assert "shoa malls insights-link" in answer.text
        assert "set-cookie" not in answer.headers


async def test_an_access_token_or_another_key_s_session_opens_nothing(
    catalog: Catalog, client: ShoaClient, session: AsyncSession, settings: Settings
) -> None:
    other = sign_in_from(settings.security.__class__(secret_key=settings.security.secret_key.__class__("x" * 40)))
    forged, _ = other.issue_session(catalog.malls.haru.id, now=utc_now())
    shopper_token, _ = client.app.state.auth.access_tokens.issue(uuid.uuid4(), now=utc_now())

    for cookie in (forged, shopper_token, "not-a-token"):
        client.cookies.set(COOKIE_NAME, cookie, domain="shoa.test", path=PAGE_PATH)
        answer = await client.get(PAGE_PATH)
        client.cookies.clear()
        assert answer.status_code == 401
        assert "<h1>로그인이 필요합니다</h1>" in answer.text


async def test_the_link_needs_a_key_with_insights_read(catalog: Catalog, client: ShoaClient) -> None:
    answer = await catalog.malls.haru.call("POST", LINKS)  # catalog and orders scopes only

    assert answer.status_code == 403
    assert answer.json()["type"].endswith("missing-scope")


async def shoa(*arguments: str, environ: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """``shoa …`` as an operator runs it: exit code, standard output and error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shoa_api", *arguments, env=environ, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_makes_a_link_that_signs_in(
    services: Services, catalog: Catalog, client: ShoaClient, tmp_path: Path
) -> None:
    environ = {**os.environ, **services.environ()}
    environ.pop("SHOA_TEST_DATABASE_URL", None)

    code, out, err = await shoa("malls", "insights-link", "--mall", "haru", "--base-url", "http://shoa.test",
                                environ=environ, cwd=tmp_path)  # fmt: skip

    assert code == 0, err
    [url] = [line.strip() for line in out.splitlines() if line.strip().startswith("http://shoa.test")]
    assert url.startswith(f"http://shoa.test{PAGE_PATH}?token=")
    assert "하루일상" in out
    assert TEST_SECRET_KEY not in out + err
    opened = await client.get(url)
    assert opened.status_code == 200
    assert "<h1>하루일상 인사이트</h1>" in opened.text
    unknown = await shoa("malls", "insights-link", "--mall", "nowhere", environ=environ, cwd=tmp_path)
    assert (unknown[0], unknown[2].strip()) == (2, "shoa malls: no mall has the slug nowhere")


# --- What the page shows, and how it protects itself --------------------------------------------------------------


async def _signed_in(client: ShoaClient, session: AsyncSession, mall: PartnerMall) -> None:
    opened = await client.get(await _link(client, await insights_key(session, mall)))
    assert opened.status_code == 200, opened.text


async def test_the_page_forbids_scripts_frames_and_referrers(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    await _signed_in(client, session, catalog.malls.haru)

    page = await client.get(PAGE_PATH)

    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
    assert (page.headers["x-frame-options"], page.headers["referrer-policy"]) == ("DENY", "no-referrer")
    assert (page.headers["cache-control"], page.headers["x-content-type-options"]) == ("no-store", "nosniff")
    assert "<script" not in page.text


async def test_a_mall_with_no_shoppers_sees_dashes_not_another_mall_s_figures(
    catalog: Catalog,
    client: ShoaClient,
    session: AsyncSession,
    engine: AsyncEngine,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
) -> None:
    for woman in await women_in_their_early_20s(many_shoppers, 5):
        await send(client, "view", catalog.products["H1"], kst_yesterday(EVENING, 10), woman.headers)
    await roll_up_events(
        async_sessionmaker(engine, expire_on_commit=False), now=utc_now() + datetime.timedelta(hours=2)
    )
    await _signed_in(client, session, catalog.malls.mono)  # the other mall: nobody met its products

    page = (await client.get(PAGE_PATH)).text

    assert "<h1>모노마켓 인사이트</h1>" in page
    assert f'<dd data-total="views">{SUPPRESSED_MARK}</dd>' in page
    assert 'data-funnel="suppressed"' in page
    assert "린넨 셔츠 원피스" not in page


async def test_the_period_form_changes_the_period_and_refuses_what_it_cannot_show(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    await _signed_in(client, session, catalog.malls.haru)
    today = korea_today(utc_now())
    week_ago = today - datetime.timedelta(days=6)

    default = await client.get(PAGE_PATH)
    chosen = await client.get(
        PAGE_PATH, params={"from": week_ago.isoformat(), "to": today.isoformat(), "sort": "likes"}
    )
    backwards = await client.get(PAGE_PATH, params={"from": today.isoformat(), "to": week_ago.isoformat()})
    garbled = await client.get(PAGE_PATH, params={"from": "<b>어제</b>", "to": today.isoformat()})

    first = today - datetime.timedelta(days=29)
    assert f"{first.isoformat()} ~ {today.isoformat()} (30일, 한국 시간)" in default.text
    assert f"{week_ago.isoformat()} ~ {today.isoformat()} (7일, 한국 시간)" in chosen.text
    assert '<option value="likes" selected>좋아요</option>' in chosen.text
    assert "좋아요 순" in chosen.text
    assert (backwards.status_code, garbled.status_code) == (400, 400)
    assert "<h1>이 기간은 볼 수 없습니다</h1>" in backwards.text
    assert 'name="from"' in backwards.text  # the form, to try again
    assert "<b>" not in garbled.text
    assert "&lt;b&gt;어제&lt;/b&gt;" in garbled.text
