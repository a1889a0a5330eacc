"""The web console in a real browser: Debian's Chromium driven by Playwright for
Python, with axe-core (the copy inside the pinned axe-playwright-python package)
injected into each page. Run by tests/tests/console_browser.rs, which starts the server,
creates the users and the data, and passes them here in the environment:

  BASE_URL, WEBHOOK_TOKEN, PASSWORD, SCREENSHOTS, SEARCH_NAME, SEARCH_REFERENCE,
  HOSTILE_REFERENCE, QUARANTINED_REFERENCE, LIVE_LEAD (a body), LIVE_REFERENCE

Nothing here downloads a browser: the executable is /usr/bin/chromium. Exits non-zero
on the first failure, saying what failed; prints "N passed, 0 failed" at the end.
"""

import os
import pathlib
import sys
import time
import urllib.request

import axe_playwright_python
from playwright.sync_api import sync_playwright

BASE = os.environ["BASE_URL"]
TOKEN = os.environ["WEBHOOK_TOKEN"]
PASSWORD = os.environ["PASSWORD"]
SHOTS = pathlib.Path(os.environ["SCREENSHOTS"])
SEARCH_NAME = os.environ["SEARCH_NAME"]
SEARCH_REFERENCE = os.environ["SEARCH_REFERENCE"]
HOSTILE_REFERENCE = os.environ["HOSTILE_REFERENCE"]
QUARANTINED_REFERENCE = os.environ["QUARANTINED_REFERENCE"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = (pathlib.Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
FIRST_LOAD_LIMIT = 150 * 1024

passed = 0


def check(condition, what):
    global passed
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    passed += 1
    print(f"ok: {what}", flush=True)


class Watch:
    """What a page did that it must not: requests to another origin, CSP violations,
    dialogs (alert), uncaught errors."""

    def __init__(self, page):
        self.foreign = []
        self.csp = []
        self.dialogs = []
        self.errors = []
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request):
        if not request.url.startswith(BASE) and not request.url.startswith("data:"):
            self.foreign.append(request.url)

    def _console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def clean(self, where):
        check(not self.foreign, f"{where}: no request left for another origin {self.foreign}")
        check(not self.csp, f"{where}: no Content-Security-Policy violation {self.csp}")
        check(not self.dialogs, f"{where}: no dialog opened {self.dialogs}")
        check(not self.errors, f"{where}: no script error {self.errors}")


def new_page(browser):
    context = browser.new_context(base_url=BASE, locale="en-GB")
    page = context.new_page()
    return context, page, Watch(page)


def sign_in_by_keyboard(page, username):
    page.goto("/inbox/login?lang=en")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    check(focused == "Skip to content", "the first Tab reaches the skip link")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    check(outline not in ("", "none"), f"the focused link is visibly outlined ({outline})")
    tab_to(page, "username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{BASE}/inbox")


def tab_to(page, element_id):
    """Presses Tab until the element with this id has the focus."""
    for _ in range(80):
        if page.evaluate("document.activeElement.id") == element_id:
            break
        page.keyboard.press("Tab")
    check(page.evaluate("document.activeElement.id") == element_id, f"Tab reaches #{element_id}")


def post_lead(reference):
    body = os.environ["LIVE_LEAD"].encode()
    request = urllib.request.Request(
        f"{BASE}/webhooks/casayes/leads",
        data=body,
        headers={"content-type": "application/json", "token": TOKEN},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        check(answer.status == 200, f"the webhook took the live lead {reference}")


def axe_scan(page, where):
    page.evaluate(AXE)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    check(not bad, f"axe: no serious or critical violation on {where} {bad}")


def main():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )

        # The first page load, whole, in a fresh browser: at most 150 KB.
        context, page, watch = new_page(browser)
        page.goto("/inbox/login")
        page.wait_for_load_state("networkidle")
        sizes = page.evaluate(
            """() => [performance.getEntriesByType('navigation')[0]]
                 .concat(performance.getEntriesByType('resource'))
                 .map(e => e.transferSize || e.encodedBodySize || 0)"""
        )
        total = sum(sizes)
        check(0 < total <= FIRST_LOAD_LIMIT, f"the first page load is {total} bytes, at most 150 KB")
        watch.clean("the sign-in page")
        context.close()

        # Sign in, by keyboard alone; find a lead by search; open it; change its status
        # by keyboard; see the change in its history.
        context, page, watch = new_page(browser)
        sign_in_by_keyboard(page, "ana")
        check(page.get_by_text("Signed in as").is_visible(), "signed in as ana")
        page.get_by_label("Search").fill(SEARCH_NAME)
        page.get_by_label("Search").press("Enter")
        page.wait_for_url("**/inbox?q=*")
        rows = page.locator("#leads-body tr")
        check(rows.count() == 1, f"the search finds one lead ({rows.count()})")
        check(SEARCH_REFERENCE in rows.first.inner_text(), "the lead searched for")
        page.get_by_role("link", name=SEARCH_REFERENCE).click()
        page.wait_for_url(f"**/inbox/leads/{SEARCH_REFERENCE}*")
        page.screenshot(path=SHOTS / "lead.png", full_page=True, caret="initial")
        tab_to(page, "work-status")
        page.get_by_label("Status").select_option("contacted")
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Save":
                break
        check(page.evaluate("document.activeElement.textContent") == "Save", "Tab reaches Save")
        page.keyboard.press("Enter")
        page.get_by_text("Saved.").wait_for()
        history = page.locator("ol.timeline").inner_text()
        check("new → contacted" in history and "ana" in history, f"the history shows the change: {history}")
        watch.clean("the lead page")

        # A new lead appears in the inbox without a reload, announced to screen readers.
        page.goto("/inbox")
        page.wait_for_load_state("networkidle")
        marker = page.evaluate("window.__sameDocument = 'yes'")
        live_reference = os.environ["LIVE_REFERENCE"]
        time.sleep(0.5)
        post_lead(live_reference)
        page.locator("#leads-body").get_by_text(live_reference).wait_for(timeout=15000)
        check(page.evaluate("window.__sameDocument") == "yes", "no reload happened")
        live = page.locator("#live").inner_text()
        check("New lead" in live and "Live Lead" in live, f"the live region announces it: {live}")
        del marker

        # A second agent's conflicting change is refused.
        other, page_b, watch_b = new_page(browser)
        sign_in_by_keyboard(page_b, "bea")
        page.goto(f"/inbox/leads/{SEARCH_REFERENCE}")
        page_b.goto(f"/inbox/leads/{SEARCH_REFERENCE}")
        page.get_by_label("Assignee").fill("ana")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved.").wait_for()
        page_b.get_by_label("Status").select_option("lost")
        page_b.get_by_role("button", name="Save").click()
        page_b.get_by_text("Someone else changed this lead").wait_for()
        check(page_b.get_by_label("Assignee").input_value() == "ana", "the refused agent sees the current values")
        check("Lost" not in page_b.locator("h1").inner_text(), "nothing was overwritten")
        watch_b.clean("the conflict")
        other.close()

        # The hostile corpus: no script runs, no request leaves.
        page.goto(f"/inbox/leads/{HOSTILE_REFERENCE}")
        page.wait_for_load_state("networkidle")
        page.goto("/inbox?q=script")
        page.wait_for_load_state("networkidle")
        pwned = page.evaluate("window.__pwned === undefined")
        check(pwned, "no hostile script ran")
        watch.clean("the hostile corpus")
        context.close()

        # An admin replays a quarantined payload; every page passes axe in both
        # languages, and is photographed.
        context, page, watch = new_page(browser)
        sign_in_by_keyboard(page, "root")
        page.goto("/inbox/quarantine")
        page.screenshot(path=SHOTS / "quarantine.png", full_page=True, caret="initial")
        page.get_by_role("button", name="Replay").first.click()
        page.wait_for_url(f"**/inbox/leads/{QUARANTINED_REFERENCE}")
        check(QUARANTINED_REFERENCE in page.inner_text("main"), "the replayed payload is a lead")

        # The dead-letter view: the delivery the CRM refused is retried, and arrives.
        failed_reference = os.environ["FAILED_REFERENCE"]
        page.get_by_role("link", name="Deliveries", exact=True).click()
        page.get_by_role("link", name="Failed", exact=True).click()
        page.wait_for_url("**/inbox/deliveries?status=failed")
        row = page.locator("table.deliveries tbody tr").filter(has_text=failed_reference)
        check(row.count() == 1, "the failed delivery is in the dead-letter view")
        check("HTTP 500" in row.inner_text(), f"with its last answer: {row.inner_text()}")
        row.get_by_role("button", name="Retry").click()
        page.wait_for_url("**/inbox/deliveries?status=failed&done=retried")
        page.get_by_text("Retried").first.wait_for()
        delivered = False
        for _ in range(50):
            page.goto("/inbox/deliveries?status=delivered")
            if page.locator("table.deliveries tbody tr").filter(has_text=failed_reference).count() == 1:
                delivered = True
                break
            time.sleep(0.2)
        check(delivered, "the retried delivery is delivered")
        page.goto(f"/inbox/leads/{failed_reference}")
        check("Forwarded to" in page.inner_text("main"), "the lead page lists its deliveries")
        page.goto("/inbox/destinations")
        check("<b>The CRM</b>" in page.inner_text("main"), "the destination's description, as text")
        check(page.evaluate("document.querySelector('main b') === null"), "no markup from it")
        pages = {
            "inbox": "/inbox",
            "lead": f"/inbox/leads/{HOSTILE_REFERENCE}",
            "contacts": "/inbox/contacts",
            "statistics": "/inbox/statistics",
            "quarantine": "/inbox/quarantine",
            "admin": "/inbox/admin",
            "destinations": "/inbox/destinations",
            "deliveries": "/inbox/deliveries",
            "person": "/inbox/admin/person?email=maria.sequeira@example.pt",
        }
        for lang in ("en", "pt-PT"):
            for name, path in pages.items():
                separator = "&" if "?" in path else "?"
                page.goto(f"{path}{separator}lang={lang}")
                page.wait_for_load_state("networkidle")
                check(page.evaluate("document.documentElement.lang") == lang, f"{name} is in {lang}")
                axe_scan(page, f"{name} ({lang})")
                if lang == "en":
                    page.screenshot(path=SHOTS / f"{name}.png", full_page=True, caret="initial")
        watch.clean("the admin's pages")
        context.close()

        context, page, watch = new_page(browser)
        for lang in ("en", "pt-PT"):
            page.goto(f"/inbox/login?lang={lang}")
            axe_scan(page, f"sign-in ({lang})")
        page.goto("/inbox/login?lang=en")
        page.screenshot(path=SHOTS / "login.png", caret="initial")
        context.close()
        browser.close()
    print(f"{passed} passed, 0 failed")


main()
