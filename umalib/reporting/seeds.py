"""Numbers over seeds: per-seed tables to mean / std tables, and the paired verdict that
decides a claim on the spread rather than on one run (:mod:`umalib.reporting.claims` uses it).

A table computed once per seed becomes

- the aggregated table: the table's own columns, numeric ones holding the **mean over seeds**,
  then ``<column>_std`` (sample standard deviation, ddof = 1; NaN with one seed) for every
  numeric column, then ``n_seeds``;
- the long table: every per-seed row, with a ``seed`` column first.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS: tuple[str, ...] = ("holds", "not distinguishable", "contradicted", "undecided")


def long_table(frames: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Every per-seed row in one frame: ``seed`` then the tables' columns (seed order)."""
    if not frames:
        raise ValueError("frames must hold at least one seed's table")
    parts = [f.assign(seed=s)[["seed", *f.columns]] for s, f in sorted(frames.items())]
    return pd.concat(parts, ignore_index=True)


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def aggregate(frames: Mapping[int, pd.DataFrame], by: Sequence[str] = ("method",)
              ) -> pd.DataFrame:
    """Mean over seeds of a table computed per seed, with ``<col>_std`` and ``n_seeds``.

    Args:
        frames: seed -> that seed's table (same columns; rows identified by ``by``).
        by: the columns that identify a row (e.g. ``("method",)``, ``("method", "steps")``);
            row order is the order of first appearance.
    Returns:
        One row per distinct ``by``; numeric columns hold means, non-numeric ones the common
        value (or the distinct values joined by "; " where the seeds differ).
    """
    long = long_table(frames)
    by = list(by)
    missing = [c for c in by if c not in long.columns]
    if missing:
        raise ValueError(f"by names columns the table lacks: {missing}")
    cols = [c for c in long.columns if c != "seed"]
    numeric = [c for c in cols if c not in by and _numeric(long[c])]
    rows = []
    for key, g in long.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key))
        for c in cols:
            if c in by:
                continue
            if c in numeric:
                v = g[c].astype(float)
                row[c] = float(v.mean()) if v.notna().any() else math.nan
                row[f"{c}_std"] = float(v.std(ddof=1)) if v.notna().sum() > 1 else math.nan
            else:
                vals = list(dict.fromkeys(g[c].tolist()))
                row[c] = vals[0] if len(vals) == 1 else "; ".join(map(str, vals))
        row["n_seeds"] = int(g["seed"].nunique())
        rows.append(row)
    return pd.DataFrame(rows, columns=cols + [f"{c}_std" for c in numeric] + ["n_seeds"])


def std_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` that have a ``<column>_std`` companion."""
    return [c for c in df.columns if f"{c}_std" in df.columns]


def paired_verdict(diffs: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Decide a claim "difference > 0" from per-seed paired differences: the rule of
    :data:`umalib.reporting.claims.RULE`.

    Returns ``verdict`` (one of :data:`VERDICTS`), ``mean``, ``low`` and ``high`` (the
    t-interval, NaN with fewer than 2 seeds) and ``n``.
    """
    d = np.asarray([x for x in diffs if not math.isnan(x)], dtype=float)
    n = len(d)
    if n < 2:
        return {"verdict": "undecided", "mean": float(d.mean()) if n else math.nan,
                "low": math.nan, "high": math.nan, "n": n}
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    low, high = mean - half, mean + half
    verdict = ("holds" if low > 0 else "contradicted" if high < 0
               else "not distinguishable")
    return {"verdict": verdict, "mean": mean, "low": low, "high": high, "n": n}
