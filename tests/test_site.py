"""The rendered site, opened in headless Chromium as a reader would open it.

Built from the smoke notebooks (executed once per session); each page is loaded with
``chromium --headless --dump-dom`` after its load event and checked: no error output, every
figure an image that decoded with a non-zero size, the tables present, no machine paths.
Chromium comes from Debian's ``chromium`` (``make test`` installs it when it can); without it
the test is skipped with a message.
"""

import html
import re
import shutil
import subprocess

import pytest

from umalib.cache import REPO_ROOT
from umalib.cli.site import build_site

from conftest import requires_fmnist

pytestmark = [requires_fmnist, pytest.mark.notebooks]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(smoke_run, tmp_path_factory):
    base, _ = smoke_run
    out = tmp_path_factory.mktemp("site")
    pages = build_site("smoke", base / "runs", out, base / "figures" / "smoke")
    return base, out, pages


def _dom(page) -> str:
    if CHROMIUM is None:
        pytest.skip("chromium not installed: `apt-get install chromium` (make test tries it)")
    run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


N_PAGES = 8  # index, six notebooks, gallery


def test_one_page_per_notebook_an_index_and_a_gallery(site):
    _, out, pages = site
    assert [p.name for p in pages][0] == "index.html" and pages[-1].name == "gallery.html"
    assert len(pages) == N_PAGES and all(p.stat().st_size > 0 for p in pages)
    assert (out / "search.html").is_file()  # the engine's offline search
    for f in out.rglob("*"):  # no machine path in any published file, downloads included
        if f.suffix in (".html", ".ipynb", ".js", ".txt"):
            text = f.read_text(errors="replace")
            assert str(REPO_ROOT) not in text and "/tmp/" not in text, f


def _visible(dom: str) -> str:
    """The page's text as a reader sees it before clicking anything: closed <details>
    (hidden code) and scripts removed."""
    dom = re.sub(r"<details(?![^>]*\bopen\b)[^>]*>.*?</details>", " ", dom, flags=re.S)
    dom = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.parametrize("i", range(N_PAGES))
def test_page_renders_as_a_reader_sees_it(site, i):
    base, out, pages = site
    page = pages[i]
    dom = _dom(page)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    images = int(re.search(r'data-images="(\d+)"', body).group(1))
    broken = int(re.search(r'data-broken-images="(\d+)"', body).group(1))
    assert images >= 1 and broken == 0, (page.name, images, broken)
    if page.name == "gallery.html":  # every figure of the run, shown and decoded
        pngs = list((base / "figures" / "smoke").glob("*.png"))
        assert images >= len(pngs) > 5, (images, len(pngs))
        assert dom.count(".pdf") >= len(pngs) // 2 and ".csv" in dom
    else:
        assert "<table" in dom, page.name
    title = html.unescape(re.search(r"<title>(.*?)</title>", dom, re.S).group(1)).strip()
    assert title and not title.lower().startswith("notebook"), (page.name, title)
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "Traceback (most recent call last)" not in text, page.name
    for machine_path in (str(base), str(REPO_ROOT), "/tmp/", "/root/", "/home/", "/usr/"):
        assert machine_path not in text, (page.name, machine_path)
    assert "Built from umalib commit" in text, page.name  # the footer
    seen = _visible(dom)
    if page.name[:2].isdigit():
        # the page's title is the notebook's own heading; the boilerplate is hidden
        assert title.startswith(page.name[:2] + " - "), title
        for code in ("INTERACTIVE = False", "setup(PROFILE", "finish(RESULTS"):
            assert code not in seen, (page.name, code)
        if page.name[:2] != "00":
            # the verdicts come before any result table
            assert "Which claims hold here" in seen, page.name
            assert seen.index("Which claims hold here") < seen.index("±"), page.name
    if page.name == "index.html":
        assert seen.index("Scoreboard") < seen.index("Headline"), "scoreboard first"
        assert "How to cite" in seen
