"""The demo app in a real browser: Debian's Chromium, driven through Playwright.

The app runs in a real HTTP server (Werkzeug, in a thread) on a free loopback
port. Playwright's own browser download is never used: it drives
``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/services``
installs it as root). Without it these tests skip, or fail when
``SATCHEL_REQUIRE_SERVICES=1`` (CI).

The account page's screenshot goes to the test's temporary folder; with
``SATCHEL_UPDATE_SCREENSHOTS=1`` it also replaces ``docs/account.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from satchel.demo import create_app
from satchel.demo.models import DEMO_PASSWORD, DEMO_USER

from .demo_support import REQUIRE, SID_COOKIE, STORES, seeded_instance, store_config

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "account.png"


def _unavailable(message: str) -> t.NoReturn:
    if REQUIRE:
        pytest.fail(f"{message} (SATCHEL_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium (scripts/services)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        _unavailable(f"the playwright package is not installed ({e}): pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=STORES)
def base_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> Iterator[str]:
    """The demo app served over HTTP on a free loopback port, for one test."""
    instance = seeded_instance(tmp_path_factory, tmp_path / "instance")
    app = create_app(store_config(request.param), instance_path=instance)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="demo-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def device(browser: Browser, user_agent: str | None = None) -> BrowserContext:
    """A browser context: a device of its own, with its own cookie jar."""
    context = browser.new_context(
        user_agent=user_agent, viewport={"width": 1100, "height": 520}, locale="en-US"
    )
    context.set_default_timeout(10_000)
    return context


def sign_in(page: Page, base_url: str, password: str = DEMO_PASSWORD) -> None:
    """Open the account page, get sent to the login form, and fill it in."""
    page.goto(f"{base_url}/account")
    assert page.url.startswith(f"{base_url}/login?next=")
    page.get_by_label("Username").fill(DEMO_USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sessions_in_a_real_browser(browser: Browser, base_url: str, tmp_path: Path) -> None:
    laptop, phone, tablet = device(browser), device(browser, PHONE), device(browser, LAPTOP)
    try:
        page = laptop.new_page()

        # A wrong password: the form again, with the one message for any failure.
        sign_in(page, base_url, password="not-the-password")
        assert page.get_by_role("alert").inner_text() == "Wrong username or password."

        # Log in; back on the account page, this device listed.
        sign_in(page, base_url)
        page.wait_for_url(f"{base_url}/account")
        assert page.get_by_role("heading", name="Your sessions").is_visible()
        assert page.locator('tr[data-current="yes"]').count() == 1

        # The cookie as the browser keeps it: an opaque signed id, HttpOnly, Lax, Path=/.
        [cookie] = [c for c in laptop.cookies(base_url) if c["name"] == "session"]
        assert SID_COOKIE.fullmatch(cookie["value"]), cookie["value"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert cookie["path"] == "/"
        assert cookie["secure"] is False  # plain http on loopback
        assert cookie["expires"] > time.time() + 30 * 24 * 3600  # permanent: 31 days
        assert "session=" not in page.evaluate("document.cookie")  # scripts cannot read it

        # Two more devices log in.
        for other in (phone, tablet):
            other_page = other.new_page()
            sign_in(other_page, base_url)
            other_page.wait_for_url(f"{base_url}/account")

        page.reload()
        rows = page.locator("table.sessions tbody tr")
        assert rows.count() == 3
        phone_row = rows.filter(has_text="Safari 17 on iPhone")
        assert phone_row.count() == 1
        assert rows.filter(has_text="Firefox 128 on Windows").count() == 1
        assert page.locator("tr.current").filter(has_text="this device").count() == 1
        shot = page.screenshot(path=str(tmp_path / "account.png"), full_page=True)
        assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
        if os.environ.get("SATCHEL_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(tmp_path / "account.png", DOCS_SCREENSHOT)

        # Sign the phone out from the laptop.
        phone_row.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{base_url}/account")
        assert page.get_by_role("status").inner_text() == "Signed out that session."
        assert rows.count() == 2

        # The phone's next navigation (a reload of its account page) lands on the login page.
        phone_page = phone.pages[0]
        phone_page.reload()
        assert re.fullmatch(rf"{re.escape(base_url)}/login\?next=.*ended=1", phone_page.url)
        assert "Your session has ended" in phone_page.get_by_role("status").inner_text()
        phone_page.goto(f"{base_url}/user/getSession")
        assert phone_page.inner_text("body") == "用户未登录!!!"

        # "Sign out everywhere else" ends the tablet too, and keeps the laptop.
        page.get_by_role("button", name="Sign out everywhere else").click()
        page.wait_for_url(f"{base_url}/account")
        assert page.get_by_role("status").inner_text() == "Signed out 1 other session."
        assert rows.count() == 1
        tablet_page = tablet.pages[0]
        tablet_page.goto(f"{base_url}/account")
        assert tablet_page.url.startswith(f"{base_url}/login?")

        # The article's routes, in the signed-in browser.
        page.goto(f"{base_url}/user/setSession")
        assert page.inner_text("body") == "设置session成功!!!"
        page.goto(f"{base_url}/user/getSession")
        assert page.inner_text("body") == "STZZ"
        page.goto(f"{base_url}/user/hello")
        assert "王天祥" in page.inner_text("body") and "password" not in page.content()

        # Sign out from the header: the session ends, the name with it.
        page.goto(f"{base_url}/account")
        page.locator("header").get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{base_url}/login?signed_out=1")
        page.goto(f"{base_url}/user/getSession")
        assert page.inner_text("body") == "用户未登录!!!"
    finally:
        for context in (laptop, phone, tablet):
            context.close()


def test_account_page_fits_a_phone(browser: Browser, base_url: str, tmp_path: Path) -> None:
    # Three devices, the last a 390 px wide phone with a user agent too long to shorten.
    contexts = [device(browser, LAPTOP), device(browser, "x" * 200)]
    phone = browser.new_context(user_agent=PHONE, viewport={"width": 390, "height": 844})
    phone.set_default_timeout(10_000)
    contexts.append(phone)
    try:
        for context in contexts:
            page = context.new_page()
            sign_in(page, base_url)
            page.wait_for_url(f"{base_url}/account")
        assert page.locator("table.sessions tbody tr").count() == 3
        for path in ("/account", "/", "/login?next=/account"):
            page.goto(f"{base_url}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone: {width} px wide"
        page.goto(f"{base_url}/account")
        button = page.locator("tr.current").get_by_role("button", name="Sign out")
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390  # reachable without scrolling
        page.screenshot(path=str(tmp_path / "account-phone.png"), full_page=True)
    finally:
        for context in contexts:
            context.close()
