"""Decide every claim of the registry on a profile's per-seed tables.

    python -m umalib claims [--profile quick] [--figures DIR] [--readme]

Writes ``figures/<profile>/claims.csv`` and ``claims.md`` and prints the counts. ``--readme``
also rewrites the scoreboard between the README's ``<!-- claims:start -->`` and
``<!-- claims:end -->`` markers and the short Table 1 between ``<!-- table1:start -->`` and
``<!-- table1:end -->`` and notebook 03's input-size study at Table 7's budget between
``<!-- input_size:start -->`` and ``<!-- input_size:end -->`` (the committed quick run; tests
keep them in step).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..budget import to_255
from ..cache import REPO_ROOT
from ..config import PROFILES, GenerativeConfig
from ..experiments.input_size import at_budget
from ..files import atomic_write
from ..reporting import claims
from ..reporting.files import to_markdown

START, END = "<!-- claims:start -->", "<!-- claims:end -->"
TABLE1 = ("method", "TA", "UA", "UA_8", "UA_16", "residual_8", "residual_16")


def readme_block(df: pd.DataFrame) -> str:
    """The README's scoreboard: the paper's claims with their verdicts, compact."""
    return (f"{START}\n" + claims.to_markdown(df, with_notebook=True, compact=True,
                                              origins=("paper",))
            + f"\n{END}")


def short_table1(t1: pd.DataFrame) -> str:
    """Table 1's clean and attacked UA, TA and residual as Markdown (means ± std, units in the
    headers): the README's and the site index's short version."""
    keep = [c for c in TABLE1 if c in t1.columns]
    keep += [f"{c}_std" for c in keep if f"{c}_std" in t1.columns]
    return to_markdown(t1[keep + [c for c in ("n_seeds",) if c in t1.columns]])


def table1_block(t1: pd.DataFrame) -> str:
    """The README's short Table 1 between its markers."""
    return "<!-- table1:start -->\n" + short_table1(t1) + "\n<!-- table1:end -->"


def input_size_block(study: pd.DataFrame, eps: float = to_255(GenerativeConfig.eps)) -> str:
    """The README's input-size table between its markers: the share of the L1 gap closed at
    ``eps`` (units of 1/255; default Table 7's 8/255) and unbounded, and the original
    inpainter's own error, per method, set and size (means ± std)."""
    view = at_budget(study, eps)[["method", "set", "size", "input_values", "closed",
                                   "closed_std", "closed_unbounded", "closed_unbounded_std",
                                   "original_L1_per_pixel", "original_L1_per_pixel_std"]]
    view = view.rename(columns={"closed": f"closed at {eps:g}/255",
                                "closed_std": f"closed at {eps:g}/255_std",
                                "original_L1_per_pixel": "L1(I1, I0) per value",
                                "original_L1_per_pixel_std": "L1(I1, I0) per value_std"})
    return ("<!-- input_size:start -->\n" + to_markdown(view) + "\n<!-- input_size:end -->")


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the markers that open and close ``block`` replaced by
    it (markers included). Raises ValueError when the markers are missing."""
    start, end = block.split("\n", 1)[0], block.rsplit("\n", 1)[-1]
    a, b = text.find(start), text.find(end)
    if a < 0 or b < a:
        raise ValueError(f"README has no {start} ... {end} block")
    return text[:a] + block + text[b + len(end):]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib claims", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--figures", default=None, help="default figures/<profile>")
    ap.add_argument("--readme", action="store_true", help="rewrite the README's scoreboard")
    args = ap.parse_args(argv)
    figures = Path(args.figures) if args.figures else REPO_ROOT / "figures" / args.profile
    if not figures.is_dir():
        ap.error(f"no figures folder {figures}: run `make reproduce PROFILE={args.profile}`")
    df = claims.write(claims.evaluate(figures), figures)
    paper = df[df.origin == "paper"]
    print(f"claims ({args.profile}): {len(paper)} of the paper's: {claims.verdict_counts(paper)}; "
          f"{len(df) - len(paper)} of ours: {claims.verdict_counts(df[df.origin == 'ours'])}")
    if args.readme:
        readme = REPO_ROOT / "README.md"
        text = replace_block(readme.read_text(), readme_block(df))
        t1 = figures / "table1_classwise.csv"
        if t1.is_file():
            text = replace_block(text, table1_block(pd.read_csv(t1)))
        study = figures / "gen_input_size.csv"
        if study.is_file():
            text = replace_block(text, input_size_block(pd.read_csv(study)))
        atomic_write(readme, lambda p: Path(p).write_text(text))
        print(f"README scoreboard rewritten from {figures.name}/claims.csv")
    return 0
