"""The documentation site as a reader sees it: every page opened in headless Chromium, offline.

The site is built once (``mkdocs build --strict``; ``ATTNLAB_SITE_DIR`` names a site built
already), served on 127.0.0.1 and opened page by page with every other host blocked. Each page
must load with no console error and no request leaving the machine; MathJax (served by the site)
must have typeset every formula, leaving no raw TeX and no Sphinx role in the visible text; each
lesson page shows its figures and links its notebook; every local link and anchor resolves; code
is neither cut nor covered by its copy button; the home page and a lesson fit a 390 px screen.
Screenshots of both, desktop and 390 px wide, go to ``build/site-screenshots/`` (or
``ATTNLAB_SCREENSHOTS``) for a person to look at.

Needs Chromium (Debian's ``chromium`` package: ``apt-get install -y chromium fonts-wqy-zenhei``) and Playwright
for Python (the ``test`` extra); Playwright drives the system's Chromium and never downloads a
browser. Without them these tests skip, saying so; with ``ATTNLAB_REQUIRE_BROWSER=1`` (set by
``.ci/run``) they fail instead.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REQUIRE = os.environ.get("ATTNLAB_REQUIRE_BROWSER", "") not in ("", "0")
CHROMIUM = os.environ.get("ATTNLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HOW_TO_INSTALL = (
    "install Chromium (Debian/Ubuntu: `apt-get install -y chromium fonts-wqy-zenhei`) and the test extra "
    "(`python -m pip install -e '.[test]'`); set ATTNLAB_CHROMIUM if chromium is elsewhere"
)
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium refuses to start as root otherwise
    "--disable-gpu",
    "--disable-background-networking",  # without these Chromium calls home all the time
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no name resolves but ours
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(os.environ.get("ATTNLAB_SCREENSHOTS") or ROOT / "build" / "site-screenshots")
# the same rule as docs/_hooks/lessons.py: a code cell that calls one of these draws a figure
DRAWS = re.compile(r"\b(show_heatmaps|plot_\w+)\s*\(|\bplt\.|\.(plot|imshow|scatter)\(")
RAW_TEX = re.compile(r"\\[A-Za-z]+|\\[()\[\]]|\$\$|\$[^$\s][^$\n]*\$")
SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|meth|data|class|mod|attr|obj|exc|const|ref):`")

pytestmark = pytest.mark.slow


def _url_path(source: Path) -> str:
    """The site path of a Markdown page or a lesson, as mkdocs writes it (directory URLs)."""
    if source.suffix == ".ipynb":
        return f"notebooks/{source.stem}/"
    relative = source.relative_to(DOCS).with_suffix("")
    if relative.name == "index":
        relative = relative.parent
    return "" if str(relative) == "." else f"{relative.as_posix()}/"


SOURCES = [p for p in sorted(DOCS.rglob("*.md")) if "_hooks" not in p.parts] + NOTEBOOKS
PAGES = [_url_path(source) for source in SOURCES]
LESSONS = [_url_path(path) for path in NOTEBOOKS]
SCREENSHOT_LESSON = next((p for p in LESSONS if p.startswith("notebooks/02_")), LESSONS[0])


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}"
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("ATTNLAB_SITE_DIR")
    if given:
        return Path(given)
    folder = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def base_url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    missing = _unavailable()
    if missing:
        message = f"the browser tests need Chromium and Playwright: {missing}; {HOW_TO_INSTALL}"
        if REQUIRE:
            pytest.fail(message + " (ATTNLAB_REQUIRE_BROWSER is set)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """What one page load showed: problems seen on the way and facts read from the page."""

    def __init__(self, browser, url: str, viewport=DESKTOP):
        self.url = url
        self.errors: list[str] = []  # console errors, uncaught exceptions, failed requests
        self.blocked: list[str] = []  # requests to any host but ours
        self.context = browser.new_context(viewport=viewport)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)
        self.page.goto(url, wait_until="load")
        # MathJax's startup promise resolves once it has typeset the page
        try:
            self.mathjax = self.page.evaluate(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                " ? MathJax.startup.promise.then(() => MathJax.version) : null"
            )
        except Exception as error:  # a failure of one page is reported for that page only
            self.mathjax = None
            self.errors.append(f"MathJax failed: {str(error).splitlines()[0]}")

    def _route(self, route):
        parts = urlsplit(route.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _failed(self, request):
        if request.url not in self.blocked:
            self.errors.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def evaluate(self, script: str, *args):
        return self.page.evaluate(script, *args)

    def close(self):
        self.context.close()


# the text a reader sees (navigation and table of contents included), without code, where TeX
# is meant to be read as code
PROSE = """() => {
  const skip = "pre, code, script, style, .jp-OutputArea, mjx-container";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (!parent.closest(skip) && parent.checkVisibility()) parts.push(walker.currentNode.data);
  }
  return parts.join("\\n");
}"""
FACTS = """() => ({
  text: document.querySelector("article").innerText,
  ids: Array.from(document.querySelectorAll("[id]"), (node) => node.id),
  links: Array.from(document.querySelectorAll("a[href]"), (a) => a.href),
  math: document.querySelectorAll("mjx-container").length,
  nestedMath: document.querySelectorAll("mjx-container mjx-container").length,
  mathErrors: Array.from(document.querySelectorAll("mjx-merror"), (node) => node.textContent),
  untypeset: Array.from(document.querySelectorAll(".arithmatex"))
      .filter((node) => !node.querySelector("mjx-container")).map((node) => node.textContent),
  markdownCells: document.querySelectorAll(".jp-MarkdownOutput").length,
  figures: Array.from(document.querySelectorAll(".jp-OutputArea-output img"),
      (img) => img.complete ? img.naturalWidth : 0),
  downloads: Array.from(document.querySelectorAll("article a[download]"),
      (a) => a.getAttribute("href")),
})"""


@pytest.fixture(scope="module")
def visits(browser, base_url, site):
    """Every page of the site, opened once at desktop size."""
    built = sorted(
        path.parent.relative_to(site).as_posix() + "/" for path in site.rglob("index.html")
    )
    built = [path.removeprefix("./") for path in built]
    seen = {}
    for path in built:
        visit = Visit(browser, urljoin(base_url, path))
        seen[path] = {
            "errors": visit.errors,
            "blocked": visit.blocked,
            "mathjax": visit.mathjax,
            "prose": visit.evaluate(PROSE),
            **visit.evaluate(FACTS),
        }
        visit.close()
    return seen


def test_every_page_of_the_site_is_checked(visits):
    assert sorted(visits) == sorted(PAGES), "a page of the site has no source here, or vice versa"


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_offline_without_errors(visits, path):
    visit = visits[path]
    assert not visit["blocked"], f"{path or 'home'} asked another host: {visit['blocked']}"
    assert not visit["errors"], f"{path or 'home'}: {visit['errors']}"
    assert str(visit["mathjax"]).startswith("3."), f"{path}: MathJax 3 did not start"


@pytest.mark.parametrize("path", PAGES)
def test_page_shows_typeset_math_and_no_markup(visits, path):
    visit = visits[path]
    assert not visit["untypeset"], f"{path}: formulas left as TeX: {visit['untypeset'][:3]}"
    assert not visit["nestedMath"], f"{path}: MathJax typeset its own output a second time"
    assert not visit["mathErrors"], f"{path}: MathJax could not typeset {visit['mathErrors']}"
    raw = sorted(set(RAW_TEX.findall(visit["prose"])))
    assert not raw, f"{path}: raw TeX in the visible text: {raw[:10]}"
    roles = sorted(set(SPHINX_ROLE.findall(visit["text"])))
    assert not roles, f"{path}: Sphinx roles in the visible text: {roles}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_lesson_page_shows_figures_math_and_a_download(visits, notebook, base_url):
    visit = visits[_url_path(notebook)]
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    drawing = [c for c in cells if c["cell_type"] == "code" and DRAWS.search("".join(c["source"]))]
    figures = visit["figures"]
    assert len(figures) >= len(drawing) > 0, f"{notebook.name}: {len(figures)} figures shown"
    assert all(width > 0 for width in figures), f"{notebook.name}: a figure did not load"
    assert visit["math"] > 0, f"{notebook.name}: no typeset formula"
    assert visit["downloads"] == [notebook.name], visit["downloads"]
    url = urljoin(base_url, _url_path(notebook) + notebook.name)
    with urllib.request.urlopen(url) as response:
        assert response.read() == notebook.read_bytes(), "the download is not the notebook"


def _ids_of(url: str, visits, base_url) -> set[str] | None:
    path = url.removeprefix(base_url)
    if path in visits:
        return set(visits[path]["ids"])
    with urllib.request.urlopen(url) as response:  # raises on 404
        if "html" not in response.headers.get("Content-Type", ""):
            return None
        return set(re.findall(r'\bid="([^"]+)"', response.read().decode("utf-8")))


def test_every_local_link_and_anchor_resolves(visits, base_url):
    broken = []
    for path, visit in visits.items():
        for link in visit["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith(base_url):
                continue  # another site: not followed offline
            try:
                ids = _ids_of(target, visits, base_url)
            except urllib.error.HTTPError as error:
                broken.append(f"{path or 'home'} -> {link}: HTTP {error.code}")
                continue
            if fragment and ids is not None and fragment not in ids:
                broken.append(f"{path or 'home'} -> {link}: no element with id {fragment!r}")
    assert not broken, "\n".join(broken)


# Lines of code wider than their block, copy buttons over code, formulas cut at the right edge.
CODE_PROBLEMS = """() => {
  const problems = [];
  const blocks = document.querySelectorAll("article pre > code, article .highlight-ipynb pre");
  for (const block of blocks) {
    if (block.scrollWidth > block.clientWidth + 1) {
      problems.push("cut: " + block.textContent.split("\\n")[0].slice(0, 60));
    }
  }
  const buttons = document.querySelectorAll("article .md-clipboard, article clipboard-copy");
  for (const button of buttons) {
    const box = button.getBoundingClientRect();
    const code = button.closest("pre, .CodeMirror").querySelector("code, pre");
    if (!code || box.width === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(code);
    for (const line of range.getClientRects()) {
      const overlaps = line.width > 0 && line.left < box.right && line.right > box.left &&
        line.top < box.bottom && line.bottom > box.top;
      if (overlaps) {
        problems.push("covered: " + code.textContent.split("\\n")[0].slice(0, 60));
        break;
      }
    }
  }
  for (const formula of document.querySelectorAll("article mjx-container[display='true']")) {
    const box = formula.getBoundingClientRect();
    const room = formula.parentElement.getBoundingClientRect();
    const scrolls = ["auto", "scroll"].includes(getComputedStyle(formula).overflowX);
    if (box.right > room.right + 1 || (formula.scrollWidth > formula.clientWidth + 1 && !scrolls)) {
      problems.push("formula cut: " + formula.textContent.slice(0, 40));
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "390px"])
@pytest.mark.parametrize("path", ["", "getting-started/", SCREENSHOT_LESSON])
def test_code_is_readable_and_pages_fit_the_screen(browser, base_url, path, viewport):
    visit = Visit(browser, urljoin(base_url, path), viewport=viewport)
    try:
        problems = visit.evaluate(CODE_PROBLEMS)
        width = visit.evaluate("() => document.scrollingElement.scrollWidth")
        name = f"{(path.strip('/').split('/')[-1] or 'home')}-{viewport['width']}px"
        if path in ("", SCREENSHOT_LESSON):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            visit.page.screenshot(path=SCREENSHOTS / f"{name}.png")
            visit.page.screenshot(path=SCREENSHOTS / f"{name}-full.png", full_page=True)
    finally:
        visit.close()
    assert not problems, f"{path or 'home'} at {viewport['width']} px: {problems}"
    assert width <= viewport["width"], f"{path or 'home'} is {width} px wide on a {viewport} screen"
