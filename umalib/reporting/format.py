"""Tables as people read them: fixed decimals per column, the unit in each header, ``mean ±
std`` where a column varies over seeds, no spread on constants, "-" for missing cells, no index
column, and wide tables split into parts that fit a page.

The CSV files keep the machine names and full precision; only what is shown is formatted here.
"""

from __future__ import annotations

import fnmatch
import html
import math
from typing import Any, Mapping, Sequence

import pandas as pd

from .seeds import std_columns

# Column name pattern -> unit. First match wins; a table may pass its own overrides.
UNITS: tuple[tuple[str, str], ...] = (
    ("MIA*", "0-1"), ("residual_*", "0-1"), ("closed", "0-1"),
    ("TA", "%"), ("RA", "%"), ("UA", "%"), ("UA_*", "%"), ("Acc_*", "%"), ("mapped_*", "%"),
    ("relearn_[0-9]*", "%"), ("relearn_retain_*", "%"),
    ("train_acc", "%"), ("test_acc", "%"), ("*_acc", "%"),
    ("seconds", "s"), ("s_per_1000", "s"), ("*_seconds", "s"), ("overhead", "x"),
    ("L1_per_image", "0-255, sum per image"), ("L1_per_pixel", "0-255"),
    ("step_size", "/255"), ("eps", "/255"),
)
# Decimals per unit; other columns get theirs from their magnitude (:func:`_decimals`).
DECIMALS = {"%": 2, "0-1": 3, "s": 1, "x": 2, "0-255, sum per image": 0, "0-255": 2}
MAX_COLUMNS = 6  # value columns per part: wider tables are split so they fit a page


def unit_of(column: str, units: Mapping[str, str] | None = None) -> str:
    """The unit of ``column`` ('' when unknown): ``units`` first, then :data:`UNITS`."""
    for pattern, unit in list((units or {}).items()) + list(UNITS):
        if fnmatch.fnmatchcase(column, pattern):
            return unit
    return ""


def header(column: str, units: Mapping[str, str] | None = None) -> str:
    """``column (unit)``, or the name alone without a known unit."""
    u = unit_of(column, units)
    return f"{column} ({u})" if u else column


def _finite(xs: Sequence[Any]) -> list[float]:
    out = []
    for x in xs:
        try:
            f = float(x)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def _decimals(values: Sequence[Any], unit: str) -> int:
    if unit in DECIMALS:
        return DECIMALS[unit]
    vals = _finite(values)
    if vals and all(float(v).is_integer() for v in vals):
        return 0
    top = max((abs(v) for v in vals), default=0.0)
    return 1 if top >= 100 else 2 if top >= 1.5 else 4


def _num(v: Any, d: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:,.0f}" if d == 0 else f"{v:.{d}f}"  # thousands marked in whole numbers
    return str(v)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def format_table(df: pd.DataFrame, units: Mapping[str, str] | None = None,
                 drop: Sequence[str] = ("n_seeds",)) -> pd.DataFrame:
    """``df`` as strings with units in the headers.

    A column with a ``<column>_std`` companion shows ``mean ± std`` unless the spread is 0 in
    every row (a constant, e.g. a sample count) or missing; decimals are fixed per column;
    NaN shows as "-". ``drop``: columns left out (``n_seeds`` is said in the caption instead).
    """
    spread = set(std_columns(df))
    out = {}
    for c in df.columns:
        if c in drop or (c.endswith("_std") and c[:-4] in spread):
            continue
        col = df[c]
        if not _is_numeric(col):
            out[header(c, units)] = ["-" if (isinstance(v, float) and math.isnan(v)) else str(v)
                                     for v in col]
            continue
        d = _decimals(col.tolist(), unit_of(c, units))
        stds = df[f"{c}_std"] if c in spread else None
        constant = stds is None or all(not s or s != s for s in stds)
        if constant:
            out[header(c, units)] = [_num(v, d) for v in col]
        else:
            out[header(c, units)] = [
                _num(m, d) if (s != s or _num(m, d) == "-") else f"{_num(m, d)} ± {_num(s, d)}"
                for m, s in zip(col, stds)]
    return pd.DataFrame(out)


def label_columns(df: pd.DataFrame) -> int:
    """How many leading columns of ``df`` are labels (not numbers), at least 1."""
    n = 0
    for c in df.columns:
        if _is_numeric(df[c]):
            break
        n += 1
    return max(n, 1)


def split_wide(text: pd.DataFrame, n_keys: int = 1, max_columns: int = MAX_COLUMNS
               ) -> list[pd.DataFrame]:
    """A formatted table in parts of at most ``max_columns`` value columns, each repeating the
    ``n_keys`` leading label columns."""
    cols = list(text.columns)
    keys, values = cols[:n_keys], cols[n_keys:]
    if len(values) <= max_columns:
        return [text]
    parts = math.ceil(len(values) / max_columns)
    size = math.ceil(len(values) / parts)
    return [text[keys + values[i:i + size]] for i in range(0, len(values), size)]


def markdown(text: pd.DataFrame) -> str:
    """A formatted table as GitHub-flavoured Markdown."""
    cols = list(text.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines)


def html_table(text: pd.DataFrame) -> str:
    """A formatted table as HTML without an index column."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in text.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in text.itertuples(index=False))
    return (f'<table class="umalib-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


class Shown:
    """What a notebook displays for a table: HTML and Markdown parts, plain text fallback."""

    def __init__(self, df: pd.DataFrame, caption: str = "",
                 units: Mapping[str, str] | None = None) -> None:
        self.parts = split_wide(format_table(df, units), label_columns(df))
        self.caption = caption

    def _repr_html_(self) -> str:
        cap = f"<p><em>{html.escape(self.caption)}</em></p>" if self.caption else ""
        return cap + "".join(html_table(p) for p in self.parts)

    def _repr_markdown_(self) -> str:
        cap = f"*{self.caption}*\n\n" if self.caption else ""
        return cap + "\n\n".join(markdown(p) for p in self.parts)

    def __repr__(self) -> str:
        return "\n\n".join(p.to_string(index=False) for p in self.parts)
