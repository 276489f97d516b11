"""Writing tables (CSV + Markdown) and figures (PNG + PDF) to ``figures/<profile>/``.

``UMALIB_FIGURES`` moves the root (tests write to a temporary directory). Files are written
atomically (temporary file, then rename) so an interrupted run never leaves half a table.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from ..cache import REPO_ROOT
from ..files import atomic_write
from .format import Shown, format_table, markdown
from .seeds import aggregate, long_table


def figures_dir(profile: str) -> Path:
    """``$UMALIB_FIGURES/<profile>`` or ``<repo>/figures/<profile>``, created."""
    root = Path(os.environ.get("UMALIB_FIGURES", REPO_ROOT / "figures"))
    d = root / profile
    d.mkdir(parents=True, exist_ok=True)
    return d


def to_markdown(df: pd.DataFrame, units: Mapping[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table as :mod:`umalib.reporting.format` shows it: units in
    the headers, ``mean ± std`` where a column varies over seeds, "-" for missing cells."""
    return markdown(format_table(df, units))


Rows = Sequence[Mapping[str, Any]] | pd.DataFrame | Mapping[int, pd.DataFrame]


def _frame(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, columns: Sequence[str] | None
           ) -> pd.DataFrame:
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return df.reindex(columns=list(columns)) if columns is not None else df


def write_table(rows: Rows, name: str, profile: str, *, columns: Sequence[str] | None = None,
                title: str = "", notes: Iterable[str] = (), by: Sequence[str] = ("method",),
                units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Write ``<name>.csv`` and ``<name>.md`` under ``figures/<profile>/`` and return the table.

    Args:
        rows: records (dicts) or a DataFrame; or ``{seed: DataFrame}``, one table per seed,
            which is aggregated (:func:`umalib.reporting.seeds.aggregate` over rows identified
            by ``by``): the CSV holds the means, ``<column>_std`` and ``n_seeds``, the Markdown
            ``mean ± std``, and ``<name>_seeds.csv`` every per-seed row with its ``seed``.
        columns: column order (and the exact CSV header); missing values become NaN.
        title / notes: Markdown heading and bullet notes under the table (e.g. deviations from
            the paper, subset sizes).
        units: column pattern -> unit for the headers where :data:`format.UNITS` does not
            fit (e.g. ``{"residual_*": "%"}``).
    """
    d = figures_dir(profile)
    if isinstance(rows, Mapping):
        per_seed = {int(s): _frame(f, columns) for s, f in rows.items()}
        long = long_table(per_seed)
        atomic_write(d / f"{name}_seeds.csv",
                     lambda p: long.to_csv(p, index=False, float_format="%.6g"))
        df = aggregate(per_seed, by)
    else:
        df = _frame(rows, columns)
    atomic_write(d / f"{name}.csv", lambda p: df.to_csv(p, index=False, float_format="%.6g"))
    md = (f"### {title}\n\n" if title else "") + to_markdown(df, units) + "\n"
    notes = list(notes)
    if "n_seeds" in df.columns:
        notes.append(f"mean ± std (sample standard deviation) over {int(df['n_seeds'].max())} "
                     "seeds; every seed's row is in " + f"`{name}_seeds.csv`")
    if notes:
        md += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    atomic_write(d / f"{name}.md", lambda p: Path(p).write_text(md))
    return df


def publish_table(rows: Rows, name: str, profile: str, *,
                  columns: Sequence[str] | None = None, title: str = "",
                  notes: Iterable[str] = (),
                  paper: pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                  paper_caption: str = "", by: Sequence[str] = ("method",),
                  units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Write a per-method table (:func:`write_table`, per-seed tables aggregated), show it in
    the notebook (``mean ± std``), then optionally the paper's numbers under
    ``paper_caption``; return the written table (means, ``_std``, ``n_seeds`` for per-seed
    input; :func:`records` turns it into the notebook's results record).

    Args:
        rows: the table with a ``method`` column, or ``{seed: table}``.
        paper: what to show as the paper's, or a function of the written table that returns
            it (e.g. ``lambda ours: with_paper(ours, paper_table("table4"))``); it is displayed
            only, never written as ours.
    """
    from IPython.display import display

    out = write_table(rows, name, profile, columns=columns, title=title, notes=notes, by=by,
                      units=units)
    display(Shown(out, caption(title, out), units))
    if callable(paper):
        paper = paper(out)
    if paper is not None:
        display(Shown(paper, paper_caption, units))
    return out


def caption(title: str, df: pd.DataFrame) -> str:
    """A table's caption: its title and, for a table over seeds, how many."""
    if "n_seeds" not in df.columns:
        return title
    n = df["n_seeds"].dropna()
    seeds = (f"{int(n.max())} seeds" if n.min() == n.max() else
             f"{int(n.min())}-{int(n.max())} seeds") if len(n) else "no seeds"
    return f"{title} (mean ± std over {seeds})" if title else f"mean ± std over {seeds}"


def records(df: pd.DataFrame, key: str = "method") -> dict[str, dict[str, Any]]:
    """``{row key: {column: value}}`` of a per-method table, for a notebook's results record."""
    return df.set_index(key).to_dict("index")


# No creation dates or software versions in the files: a re-run that draws the same figure
# writes the same bytes, so committed figures change only when their content does.
_STABLE_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None,
                                                        "Creator": None}}


def save_figure(fig: Any, name: str, profile: str, dpi: int = 130) -> Path:
    """Save a matplotlib figure as ``<name>.png`` and ``<name>.pdf``; returns the PNG path."""
    d = figures_dir(profile)
    for ext in ("png", "pdf"):
        atomic_write(d / f"{name}.{ext}",
                      lambda p, ext=ext: fig.savefig(p, format=ext, dpi=dpi, bbox_inches="tight",
                                                     metadata=_STABLE_METADATA[ext]))
    return d / f"{name}.png"


def shown_path(path: Path) -> str:
    """A path as a published page shows it: relative to the repository when inside it, else
    only its last two parts (machine-specific prefixes such as a home or temp folder stay out)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT.resolve()))
    except ValueError:
        return str(Path("...", *path.parts[-2:]))


def environment(device: str = "cpu") -> dict[str, str]:
    """Versions, threads, device and cache location, for the setup notebook's report."""
    import platform
    import sys

    import torch

    from .. import __version__
    from ..cache import cache_root

    info = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "umalib": __version__, "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "cuda available": str(torch.cuda.is_available()), "device used": device,
        "cache (UMALIB_CACHE)": shown_path(cache_root()),
        "figures (UMALIB_FIGURES)": shown_path(Path(os.environ.get("UMALIB_FIGURES",
                                                                   REPO_ROOT / "figures"))),
    }
    for mod in ("torchvision", "numpy", "sklearn", "papermill", "matplotlib", "torchmetrics"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # a missing optional package is reported, not fatal
            info[mod] = "not installed"
    return info


def record(results: Mapping[str, Any], notebook: str, profile: str) -> Path:
    """Write the numbers a notebook computed to ``results_<notebook>.json`` (read by tests
    and by anyone who wants the values without parsing tables)."""
    import json

    def clean(v: Any) -> Any:  # strict JSON: NaN/inf become null
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    d = figures_dir(profile)
    path = d / f"results_{notebook}.json"
    text = json.dumps(clean(results), indent=1, default=str, allow_nan=False)
    atomic_write(path, lambda p: Path(p).write_text(text))
    return path
