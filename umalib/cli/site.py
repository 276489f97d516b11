"""A static site of the executed notebook series, readable without running anything.

    python -m umalib site [--profile quick] [--runs runs/quick] [--out docs/site]

One HTML page per executed notebook (nbconvert's lab template; figures embedded, so each page
stands alone) and an index with the paper's question, the headline figure and Table 1. nbconvert
rather than jupyter-book or MyST: it is already a dependency of the notebook stack, needs no
build tree or network, and renders exactly what the executed notebook holds.

Every page carries a small script that records, once the page has loaded, how many images it
has and how many failed to decode (``data-images`` / ``data-broken-images`` on ``<body>``), so a
headless browser test can check what a reader would see.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
from pathlib import Path
from typing import Sequence

from ..cache import REPO_ROOT
from ..config import PROFILES
from ..files import atomic_write

TITLES = {
    "00": "Setup: data, environment and the original model",
    "01": "Discriminative unlearning: retrain, FT, RL, GA, IU, l1-sparse, SalUn",
    "02": "The Unlearning Mapping Attack (Tables 1 and 2, Figure 1)",
    "03": "Generative unlearning with a masked autoencoder (Tables 3 and 7, Figures 2-3)",
    "04": "Defences: adversarial unlearning and VAE purification (Tables 4-6)",
    "05": "Ablations: attack steps and step size (Figures 4-5)",
}
HEADLINE_FIGURE = "fig4_ablation_steps.png"
CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  document.body.dataset.images = imgs.length;
  document.body.dataset.brokenImages = imgs.filter(function (i) {
    return !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0); }).length;
});
</script>"""
STYLE = """<style>
.umalib-nav { font: 14px sans-serif; padding: 8px 16px; background: #f3f3f3;
  border-bottom: 1px solid #ddd; }
.umalib-nav a { margin-right: 14px; }
</style>"""


def _nav(pages: Sequence[str], current: str) -> str:
    links = ['<a href="index.html">index</a>'] + [
        f'<a href="{p}.html">{"<b>" + p[:2] + "</b>" if p == current else p[:2]}</a>'
        for p in pages]
    return f'<nav class="umalib-nav">umalib, quick run: {" ".join(links)}</nav>'


def notebook_page(notebook: Path, pages: Sequence[str]) -> str:
    """The HTML page of one executed notebook, with the site's navigation and image check."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    body = body.replace("</head>", STYLE + "\n</head>", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _nav(pages, notebook.stem), body, count=1)
    return body.replace("</body>", CHECK_SCRIPT + "\n</body>", 1)


def index_page(profile: str, pages: Sequence[str], figures: Path) -> str:
    """The index: the paper's question, the headline figure, Table 1 (mean ± std) and links."""
    import pandas as pd

    from ..reporting.files import with_spread

    t1 = figures / "table1_classwise.csv"
    table = (with_spread(pd.read_csv(t1)).to_html(index=False, border=0, escape=True)
             if t1.is_file() else "<p>(Table 1 has not been computed for this profile.)</p>")
    items = "\n".join(f'<li><a href="{p}.html">{html.escape(p[:2])} - '
                      f'{html.escape(TITLES.get(p[:2], p))}</a></li>' for p in pages)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>umalib: {profile} run</title>
<style>
body {{ font: 16px/1.5 sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>Does unlearning really remove what it claims to remove?</h1>
<p>This is the executed <code>{profile}</code> run of the notebook series that reproduces
<i>Verifying Robust Unlearning: Probing Residual Knowledge in Unlearned Models</i> (Xuan &amp;
Li) with umalib. The paper's question: after a model has
"unlearned" part of its training data, can an attacker who holds the model before and after
unlearning find small input perturbations (the <b>Unlearning Mapping Attack</b>, UMA) that make
the unlearned model reproduce the original model's outputs on the forgotten data? If so, the
forgotten knowledge is still in the weights.</p>
<p>Every number is a mean over seeds with its standard deviation; the {profile} profile runs
on the real Fashion-MNIST with a small CNN on two CPU cores, and each notebook lists how it
deviates from the paper (CIFAR-10, ResNet-50).</p>
<h2>Headline: forgotten knowledge comes back under attack</h2>
<p>Forget-set accuracy (UA, lower = forgotten) of SalUn- and FT-unlearned models as UMA runs
more steps at eps 16/255 (mean ± std over seeds; Figure 4 of the paper):</p>
<img src="{HEADLINE_FIGURE}" alt="UA under UMA against the number of attack steps">
<h2>Table 1 (class-wise): clean and attacked UA / MIA</h2>
{table}
<p>UA and TA in %, MIA = share of forget samples the membership attack calls members;
<code>_8</code> / <code>_16</code>: under UMA at 8/255 and 16/255; residual: attacked forget
samples the unlearned model recognises and the retrained one does not.</p>
<h2>The notebooks</h2>
<ol start="0">
{items}
</ol>
{CHECK_SCRIPT}
</body></html>
"""


def build_site(profile: str, runs: Path, out: Path, figures: Path) -> list[Path]:
    """Write ``index.html`` and one page per executed notebook in ``runs`` to ``out``; returns
    the written pages. Raises FileNotFoundError when ``runs`` holds no executed notebook."""
    notebooks = sorted(runs.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {runs}: run `make reproduce "
                                f"PROFILE={profile}` first")
    out.mkdir(parents=True, exist_ok=True)
    pages = [nb.stem for nb in notebooks]
    written = []
    for nb in notebooks:
        text = notebook_page(nb, pages)
        written.append(atomic_write(out / f"{nb.stem}.html", lambda p, t=text: Path(p).write_text(t)))
    if (figures / HEADLINE_FIGURE).is_file():
        shutil.copyfile(figures / HEADLINE_FIGURE, out / HEADLINE_FIGURE)
    index = index_page(profile, pages, figures)
    written.insert(0, atomic_write(out / "index.html", lambda p: Path(p).write_text(index)))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib site", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--runs", default=None, help="executed notebooks (default runs/<profile>)")
    ap.add_argument("--figures", default=None, help="default figures/<profile>")
    ap.add_argument("--out", default=None, help="default docs/site (quick) or docs/site-<profile>")
    args = ap.parse_args(argv)
    runs = Path(args.runs) if args.runs else REPO_ROOT / "runs" / args.profile
    figures = Path(args.figures) if args.figures else REPO_ROOT / "figures" / args.profile
    default_out = "site" if args.profile == "quick" else f"site-{args.profile}"
    out = Path(args.out) if args.out else REPO_ROOT / "docs" / default_out
    try:
        pages = build_site(args.profile, runs, out, figures)
    except FileNotFoundError as e:
        ap.error(str(e))
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"site: {len(pages)} pages in {out} ({size / 1e6:.1f} MB)")
    return 0
