"""The rendered site, opened in headless Chromium as a reader would open it.

Built from the smoke notebooks (executed once per session); each page is loaded with
``chromium --headless --dump-dom`` after its load event and checked: no error output, every
figure an image that decoded with a non-zero size, the tables present, no machine paths.
Chromium comes from Debian's ``chromium`` (``make test`` installs it when it can); without it
the test is skipped with a message.
"""

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


def test_one_page_per_notebook_and_an_index(site):
    _, out, pages = site
    assert [p.name for p in pages][0] == "index.html"
    assert len(pages) == 7 and all(p.stat().st_size > 0 for p in pages)


@pytest.mark.parametrize("i", range(7))
def test_page_renders_as_a_reader_sees_it(site, i):
    base, out, pages = site
    page = pages[i]
    dom = _dom(page)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    images = int(re.search(r'data-images="(\d+)"', body).group(1))
    broken = int(re.search(r'data-broken-images="(\d+)"', body).group(1))
    assert images >= 1 and broken == 0, (page.name, images, broken)
    assert "<table" in dom, page.name
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "Traceback (most recent call last)" not in text, page.name
    for machine_path in (str(base), str(REPO_ROOT), "/tmp/", "/root/", "/home/", "/usr/"):
        assert machine_path not in text, (page.name, machine_path)
