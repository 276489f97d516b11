"""Numbers over seeds: per-seed tables to mean / std tables, and paired comparisons that decide
a claim on the spread rather than on one run.

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


def compare(long: pd.DataFrame, a: str, b: str, column: str, *, lower_is_better: bool = True,
            key: str = "method") -> dict[str, Any]:
    """Is row ``a`` better than row ``b`` in ``column``, seed by seed? (e.g. "SalUn is more
    robust than RL at 16/255": a="SalUn", b="RL", column="UA_16", lower is better).

    ``long`` is a :func:`long_table`. Returns :func:`paired_verdict`'s dict plus ``a``, ``b``,
    ``column`` and ``diffs`` (the per-seed advantage of ``a``, positive = ``a`` better).
    """
    pa = long[long[key] == a].set_index("seed")[column]
    pb = long[long[key] == b].set_index("seed")[column]
    seeds = sorted(set(pa.index) & set(pb.index))
    diffs = [float(pb[s] - pa[s]) if lower_is_better else float(pa[s] - pb[s]) for s in seeds]
    diffs = [d for d in diffs if not math.isnan(d)]
    return {"a": a, "b": b, "column": column, "diffs": diffs, **paired_verdict(diffs)}


def sentence(c: Mapping[str, Any], claim: str, unit: str = " points") -> str:
    """One line: the claim, the verdict and the numbers behind it."""
    if c["verdict"] == "undecided":
        return f"{claim}: undecided (n = {c['n']} seed; a verdict needs at least 2)."
    return (f"{claim}: {c['verdict']} (advantage {c['mean']:+.2f}{unit}, 95% interval "
            f"[{c['low']:+.2f}, {c['high']:+.2f}] over {c['n']} seeds; per seed "
            + ", ".join(f"{d:+.2f}" for d in c["diffs"]) + ").")
