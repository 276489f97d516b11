"""Writing tables (CSV + Markdown) and figures (PNG + PDF) to ``figures/<profile>/``.

``UMALIB_FIGURES`` moves the root (tests write to a temporary directory). Files are written
atomically (temporary file, then rename) so an interrupted run never leaves half a table.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from .cache import REPO_ROOT


def figures_dir(profile: str) -> Path:
    """``$UMALIB_FIGURES/<profile>`` or ``<repo>/figures/<profile>``, created."""
    root = Path(os.environ.get("UMALIB_FIGURES", REPO_ROOT / "figures"))
    d = root / profile
    d.mkdir(parents=True, exist_ok=True)
    return d


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; figures and tables are for everyone to read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.2f}" if abs(v) >= 1.5 else f"{v:.4f}"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); NaN renders as '-'."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def write_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, name: str, profile: str, *,
                columns: Sequence[str] | None = None, title: str = "",
                notes: Iterable[str] = ()) -> pd.DataFrame:
    """Write ``<name>.csv`` and ``<name>.md`` under ``figures/<profile>/`` and return the table.

    Args:
        rows: records (dicts) or a DataFrame.
        columns: column order (and the exact CSV header); missing values become NaN.
        title / notes: Markdown heading and bullet notes under the table (e.g. deviations from
            the paper, subset sizes).
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if columns is not None:
        df = df.reindex(columns=list(columns))
    d = figures_dir(profile)
    _atomic_write(d / f"{name}.csv", lambda p: df.to_csv(p, index=False, float_format="%.6g"))
    md = (f"### {title}\n\n" if title else "") + to_markdown(df) + "\n"
    notes = list(notes)
    if notes:
        md += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    _atomic_write(d / f"{name}.md", lambda p: Path(p).write_text(md))
    return df


def publish_table(df: pd.DataFrame, name: str, profile: str, *,
                  columns: Sequence[str] | None = None, title: str = "",
                  notes: Iterable[str] = (), paper: pd.DataFrame | None = None,
                  paper_caption: str = "") -> dict[str, dict[str, Any]]:
    """Write a per-method table (``write_table``), show it in the notebook, then optionally
    the paper's numbers under ``paper_caption``; return ``{method: {column: value}}`` for the
    notebook's results record.

    Args:
        df: the table, with a ``method`` column.
        paper: what to show as the paper's (e.g. ``results.with_paper(df, paper_table(...))``);
            it is displayed only, never written as ours.
    """
    from IPython.display import Markdown, display

    out = write_table(df, name, profile, columns=columns, title=title, notes=notes)
    display(out.round(4))
    if paper is not None:
        if paper_caption:
            display(Markdown(paper_caption))
        display(paper.round(4))
    return out.set_index("method").to_dict("index")


def save_figure(fig: Any, name: str, profile: str, dpi: int = 130) -> Path:
    """Save a matplotlib figure as ``<name>.png`` and ``<name>.pdf``; returns the PNG path."""
    d = figures_dir(profile)
    for ext in ("png", "pdf"):
        _atomic_write(d / f"{name}.{ext}",
                      lambda p, ext=ext: fig.savefig(p, format=ext, dpi=dpi, bbox_inches="tight"))
    return d / f"{name}.png"


def environment(device: str = "cpu") -> dict[str, str]:
    """Versions, threads, device and cache location, for the setup notebook's report."""
    import platform
    import sys

    import torch

    from . import __version__
    from .cache import cache_root

    info = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "umalib": __version__, "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "cuda available": str(torch.cuda.is_available()), "device used": device,
        "cache (UMALIB_CACHE)": str(cache_root()), "figures": str(Path(os.environ.get("UMALIB_FIGURES", REPO_ROOT / "figures"))),
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
    _atomic_write(path, lambda p: Path(p).write_text(text))
    return path
