"""The paper's claims as data, each decided once by one rule on the per-seed tables.

A :class:`Claim` names what the paper says (its words, where, its numbers), the notebook whose
tables test it, and a :class:`Quantity`: per-seed numbers read from ``<table>_seeds.csv`` (one
cell, a difference of cells, a share of a gap closed). The claim is "quantity > threshold" or
"quantity < threshold"; :func:`decide` turns the per-seed margins into a verdict by
:data:`RULE`, the project's only rule for agreement with the paper:

- ``holds``: the 95 % t-interval of the per-seed margins lies entirely on the claimed side;
- ``contradicted``: it lies entirely on the other side;
- ``not distinguishable``: it straddles 0;
- ``undecided``: fewer than 2 seeds;
- ``not testable here: ...``: the profile's tables lack what the claim reads.

:data:`CLAIMS` holds the paper's findings and, labelled ``ours``, the profile's own quality
checks. Every verdict a notebook prints comes from here (:func:`publish`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Protocol, Sequence

import pandas as pd

from ..files import atomic_write
from .seeds import paired_verdict

RULE = ("per seed, the claimed quantity's margin over its threshold (or the paired difference); "
        "'holds' when the 95 % t-interval of the margins over seeds lies entirely on the claimed "
        "side of 0, 'contradicted' when entirely on the other side, 'not distinguishable' "
        "otherwise, 'undecided' with fewer than 2 seeds")
RULE_ROW = "95 % t-interval of the per-seed margins: holds / contradicted when it excludes 0"
RULE_SHORT = ("Verdicts: 95 % t-interval of the per-seed margins over the threshold (or of the "
              "paired differences); holds / contradicted when it lies entirely on one side of 0, "
              "not distinguishable otherwise.")
NOTEBOOKS = {"01": "01_discriminative_unlearning", "02": "02_uma_attack",
             "03": "03_generative_mae", "04": "04_defenses", "05": "05_ablations"}
Tables = Mapping[str, pd.DataFrame]


class NotTestable(LookupError):
    """The profile's tables lack a row or column that a claim reads."""


# ---------------------------------------------------------------------------------------------
# Quantities: per-seed numbers read from the long (per-seed) tables


class Quantity(Protocol):
    """Per-seed numbers read from the long tables."""

    def tables(self) -> set[str]:
        """The table names (``<name>_seeds.csv``) it reads."""

    def values(self, tables: Tables) -> pd.Series:
        """One value per seed (index: seed); raises :class:`NotTestable`."""

    def describe(self) -> str:
        """What it reads, in one line."""


def _table(tables: Tables, name: str) -> pd.DataFrame:
    if name not in tables:
        raise NotTestable(f"{name}_seeds.csv is missing")
    return tables[name]


@dataclass(frozen=True)
class Cell:
    """One column of the row matching ``where`` in ``<table>_seeds.csv``, per seed."""

    table: str
    column: str
    where: tuple[tuple[str, Any], ...]

    def tables(self) -> set[str]:
        return {self.table}

    def rows(self, tables: Tables) -> pd.DataFrame:
        """The per-seed rows matching ``where`` (every seed's); raises :class:`NotTestable`."""
        df = _table(tables, self.table)
        mask = pd.Series(True, index=df.index)
        for k, v in self.where:
            if k not in df.columns:
                raise NotTestable(f"{self.table} has no column {k}")
            col = df[k]
            mask &= (col.astype(float) == float(v)) if isinstance(v, (int, float)) else (
                col.astype(str) == str(v))
        if not mask.any():
            raise NotTestable(f"{self.table} has no row {self._where()}")
        return df[mask]

    def values(self, tables: Tables) -> pd.Series:
        if self.column not in _table(tables, self.table).columns:
            raise NotTestable(f"{self.table} has no column {self.column}")
        return self.rows(tables).set_index("seed")[self.column].astype(float)

    def _where(self) -> str:
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.where)

    def describe(self) -> str:
        return f"{self.column}[{self._where()}]"


@dataclass(frozen=True)
class Lin:
    """A linear combination of cells, seed by seed (seeds missing from any term drop out)."""

    terms: tuple[tuple[float, "Quantity"], ...]

    def tables(self) -> set[str]:
        return set().union(*(q.tables() for _, q in self.terms))

    def values(self, tables: Tables) -> pd.Series:
        out = None
        for c, q in self.terms:
            part = c * q.values(tables)
            out = part if out is None else out + part  # aligned on seed; a missing seed -> NaN
        return out.dropna()

    def describe(self) -> str:
        s = ""
        for c, q in self.terms:
            sign = "-" if c < 0 else ("+" if s else "")
            coef = "" if abs(c) == 1 else f"{abs(c):g}*"
            inner = q.describe()
            s += (f" {sign} " if s else sign) + coef + (f"({inner})" if isinstance(q, Lin) else inner)
        return s.strip()


@dataclass(frozen=True)
class Ratio:
    """``num / den`` seed by seed, e.g. the share of a gap that an attack closed."""

    num: "Quantity"
    den: "Quantity"

    def tables(self) -> set[str]:
        return self.num.tables() | self.den.tables()

    def values(self, tables: Tables) -> pd.Series:
        n, d = self.num.values(tables), self.den.values(tables)
        return (n / d.where(d != 0)).dropna()

    def describe(self) -> str:
        return f"({self.num.describe()}) / ({self.den.describe()})"


def cell(table: str, column: str, **where: Any) -> Cell:
    """``column`` of the row of ``table`` where every ``key=value`` matches."""
    return Cell(table, column, tuple(where.items()))


def diff(a: Quantity, b: Quantity) -> Lin:
    """``a - b`` seed by seed."""
    return Lin(((1.0, a), (-1.0, b)))


def gap_closed(start: Quantity, end: Quantity, target: Quantity) -> Ratio:
    """The share of the gap between ``start`` and ``target`` that ``end`` closed:
    ``(start - end) / (start - target)`` (1 = back at the target, 0 = no change)."""
    return Ratio(diff(start, end), diff(start, target))


@dataclass(frozen=True)
class AtEnd:
    """``column`` of the row matching ``where`` at one value of ``along``: a number, or "min" /
    "max" for the end points the table has (so a profile with other sweep values or sizes
    still works)."""

    table: str
    column: str
    along: str
    at: float | Literal["min", "max"]
    where: tuple[tuple[str, Any], ...] = ()

    def tables(self) -> set[str]:
        return {self.table}

    def values(self, tables: Tables) -> pd.Series:
        at = self.at
        if at in ("min", "max"):
            if self.along not in _table(tables, self.table).columns:
                raise NotTestable(f"{self.table} has no column {self.along}")
            vals = Cell(self.table, self.column, self.where).rows(tables)[self.along].astype(float)
            at = vals.min() if at == "min" else vals.max()
        return Cell(self.table, self.column, self.where + ((self.along, float(at)),)).values(tables)

    def describe(self) -> str:
        at = self.at if isinstance(self.at, str) else f"{self.at:g}"
        where = Cell(self.table, "", self.where)._where()
        return f"{self.column}[{where + ', ' if where else ''}{self.along}={at}]"


# ---------------------------------------------------------------------------------------------
# Claims


@dataclass(frozen=True)
class Claim:
    """One claim: what is said, where, the paper's numbers, and how our tables test it.

    ``quantity op threshold`` is the claim on every seed (``op`` ">" or "<"); ``unit`` is the
    quantity's unit as a reader sees it. ``origin`` is "paper" for the paper's findings and
    "ours" for the profile's own quality checks (never shown as the paper's).
    """

    id: str
    claim: str
    source: str
    paper: str
    notebook: str
    quantity: Quantity
    op: Literal[">", "<"]
    threshold: float = 0.0
    unit: str = ""
    origin: Literal["paper", "ours"] = "paper"

    def __post_init__(self) -> None:
        if self.op not in (">", "<"):
            raise ValueError(f"claim {self.id}: op must be '>' or '<', got {self.op!r}")
        if self.notebook not in NOTEBOOKS:
            raise ValueError(f"claim {self.id}: unknown notebook {self.notebook!r}")
        if self.origin not in ("paper", "ours"):
            raise ValueError(f"claim {self.id}: origin must be 'paper' or 'ours'")

    def test(self) -> str:
        """What is compared, in one line, e.g. ``UA_8[method=FT] > 90 %``."""
        return f"{self.quantity.describe()} {self.op} {self.threshold:g}{self.unit}"


def _t1(col: str, m: str) -> Cell:
    return cell("table1_classwise", col, method=m)


def _t2(col: str, m: str) -> Cell:
    return cell("table2_instancewise", col, method=m)


def _g3(col: str, m: str, attack: str = "none") -> Cell:
    return cell("table3_generative", col, method=m, attack=attack)


def _budget(m: str, s: str, eps: float) -> Lin:
    """The share (%) of the L1 gap UMA closed at ``eps`` (units of 1/255; inf = unbounded)."""
    return Lin(((100.0, cell("gen_budget", "closed", method=m, set=s, eps=eps)),))


def _sweep(column: str, at: float | Literal["min", "max"]) -> AtEnd:
    """SalUn's UA at one point of an ablation sweep."""
    table = {"steps": "ablation_steps", "step_size": "ablation_stepsize"}[column]
    return AtEnd(table, "UA", column, at, (("method", "SalUn"),))


def _size(m: str, at: Literal["min", "max"], eps: float = 8.0) -> Lin:
    """The share (%) of ``m``'s forget-set L1 gap UMA closed at ``eps`` (units of 1/255) at the
    smallest or largest size of the input-size study."""
    return Lin(((100.0, AtEnd("gen_input_size", "closed", "size", at,
                              (("method", m), ("set", "forget"), ("eps", eps)))),))


def _paper_claims() -> list[Claim]:
    t1 = "Table 1, Sec. 5.1"
    out = [
        Claim("cw-retrain-robust", "Class-wise, the retrained model stays robust: under UMA at "
              "16/255 its forget-set accuracy stays below 1 %", t1, "UA 0 -> 0 (8/255) -> 0 (16/255)", "02",
              _t1("UA_16", "retrain"), "<", 1.0, " %"),
        Claim("cw-ft-mapped", "Class-wise FT is mapped back almost fully at 8/255 (UA above 90 %)", t1,
              "UA_8 99.96 %", "02", _t1("UA_8", "FT"), ">", 90.0, " %"),
        Claim("cw-iu-mapped", "Class-wise IU is mapped back almost fully at 8/255 (UA above 90 %)", t1,
              "UA_8 99.68 %", "02", _t1("UA_8", "IU"), ">", 90.0, " %"),
        Claim("cw-rl-beats-ft", "RL is more robust than FT at 8/255", t1, "UA_8 18.62 vs 99.96 %",
              "02", diff(_t1("UA_8", "FT"), _t1("UA_8", "RL")), ">", 0.0, " points"),
        Claim("cw-salun-beats-ft", "SalUn is more robust than FT at 8/255", t1,
              "UA_8 6.04 vs 99.96 %", "02", diff(_t1("UA_8", "FT"), _t1("UA_8", "SalUn")), ">",
              0.0, " points"),
        Claim("cw-salun-beats-rl", "Table 1's order: SalUn is more robust than RL at 8/255", t1,
              "UA_8 6.04 vs 18.62 %", "02", diff(_t1("UA_8", "RL"), _t1("UA_8", "SalUn")), ">",
              0.0, " points"),
        Claim("cw-rl-beats-l1", "Table 1's order: RL is more robust than l1-sparse at 8/255", t1,
              "UA_8 18.62 vs 73.00 %", "02", diff(_t1("UA_8", "l1-sparse"), _t1("UA_8", "RL")),
              ">", 0.0, " points"),
        Claim("cw-l1-beats-ft", "Table 1's order: l1-sparse is more robust than FT at 8/255", t1,
              "UA_8 73.00 vs 99.96 %", "02", diff(_t1("UA_8", "FT"), _t1("UA_8", "l1-sparse")),
              ">", 0.0, " points"),
    ]
    paper16 = {"FT": "100", "RL": "56.02", "IU": "99.90", "l1-sparse": "97.12", "SalUn": "32.58"}
    for m, p in paper16.items():
        out.append(Claim(f"cw-{m.lower()}-above-retrain", f"Class-wise, {m} is mapped back more "
                         "than retrain at 16/255 (no approximate method is as robust as retrain)",
                         t1, f"UA_16 {p} vs 0 %", "02",
                         diff(_t1("UA_16", m), _t1("UA_16", "retrain")), ">", 0.0, " points"))
    t2 = "Table 2, Sec. 5.1"
    out += [
        Claim("iw-retrain-mapped", "Instance-wise, even the retrained model is mapped back at "
              "8/255 (UA above 90 %): limited robustness for every method", t2, "UA 93.78 -> 99.98 %", "02",
              _t2("UA_8", "retrain"), ">", 90.0, " %"),
        Claim("iw-attack-raises-retrain", "Instance-wise, UMA raises the retrained model's "
              "forget-set accuracy at 8/255", t2, "UA 93.78 -> 99.98 %", "02",
              diff(_t2("UA_8", "retrain"), _t2("UA", "retrain")), ">", 0.0, " points"),
    ]
    g = "Table 3, Sec. 5.1"
    for m, (fid_none, fid_8, l1) in {"I2I": ("306.43", "114.16", "95.8"),
                                     "SalUn": ("330.79", "133.82", "91.3")}.items():
        out += [
            Claim(f"gen-{m.lower()}-unlearns", f"Generative {m} unlearning raises the forget "
                  "set's FID more than the retain set's", g,
                  f"FID_F 103.38 -> {fid_none}, FID_R 96.12 -> "
                  + ("100.15" if m == "I2I" else "130.45"), "03",
                  diff(diff(_g3("FID_F", m), _g3("FID_F", "Original")),
                       diff(_g3("FID_R", m), _g3("FID_R", "Original"))), ">", 0.0, ""),
            Claim(f"gen-{m.lower()}-l1-recovered", f"UMA at 8/255 recovers {m}'s forget outputs: "
                  "it closes at least 90 % of the L1 gap to the original's outputs", "Table 7, App. A.3",
                  f"{l1} % of the gap closed", "03", _budget(m, "forget", 8), ">", 90.0, " %"),
            Claim(f"gen-{m.lower()}-fid-recovered", f"UMA at 8/255 brings {m}'s forget-set FID "
                  "back to the original's: at least 90 % of the FID gap closed", g,
                  f"FID_F {fid_none} -> {fid_8} (original 103.38)", "03",
                  Lin(((100.0, gap_closed(_g3("FID_F", m), _g3("FID_F", m, "8/255"),
                                          _g3("FID_F", "Original"))),)), ">", 90.0, " %"),
        ]
    out += [
        Claim("gen-unbounded", "The unbounded attack recovers the forget outputs (I2I): at least "
              "90 % of the forget L1 gap closed", g, "FID_F 306.43 -> 110.29, original 103.38: 96.6 % "
              "of the FID gap (no L1 given)", "03", _budget("I2I", "forget", math.inf), ">", 90.0,
              " %"),
        Claim("gen-retain-unaffected", "UMA does not harm the retain set's outputs: their L1 "
              "distance to the original's does not grow under attack (I2I)", "Table 7, Sec. 5.1",
              "retain L1 64,619 -> 42,410 per image", "03",
              diff(cell("table7_l1", "L1_per_image", method="I2I", set="retain", attack="none"),
                   cell("table7_l1", "L1_per_image", method="I2I", set="retain",
                        attack="8/255")), ">", 0.0, " per image"),
    ]
    d = "Tables 4-6, Sec. 5.3, App. A.2"
    out += [
        Claim("def-adv-lowers-ua", "Adversarial unlearning makes RL substantially more robust at "
              "16/255", "Table 4 vs Table 1", "UA_16 56.02 -> 16.98 %", "04",
              diff(cell("table4_adversarial_unlearning", "UA_16", method="RL"),
                   cell("table4_adversarial_unlearning", "UA_16", method="RL+adv")), ">", 0.0,
              " points"),
        Claim("def-adv-keeps-ta", "Adversarial unlearning keeps clean test accuracy (drop under "
              "2 points)", "Table 4 vs Table 1", "TA 91.70 -> 91.53 %", "04",
              diff(cell("table4_adversarial_unlearning", "TA", method="RL"),
                   cell("table4_adversarial_unlearning", "TA", method="RL+adv")), "<", 2.0,
              " points"),
        Claim("def-vae-unaware-ft", "Purification stops an attacker who does not know it (FT, "
              "8/255: UA below 10 %)", d, "UA_8 4.90 %", "04",
              cell("table5_purification_unaware", "UA_8", method="FT+vae"), "<", 10.0, " %"),
        Claim("def-vae-unaware-salun", "Purification stops an attacker who does not know it "
              "(SalUn, 8/255: UA below 10 %)", d, "UA_8 0 %", "04",
              cell("table5_purification_unaware", "UA_8", method="SalUn+vae"), "<", 10.0, " %"),
        Claim("def-vae-aware-ft", "An attacker who knows the purifier maps FT back through it "
              "(8/255: UA above 90 %)", d, "UA_8 99.98 %", "04",
              cell("table6_purification_aware", "UA_8", method="FT+vae"), ">", 90.0, " %"),
        Claim("def-vae-aware-salun", "SalUn with purification stays robust against an attacker "
              "who knows the purifier (8/255: UA below 10 %)", d, "UA_8 0.66 %", "04",
              cell("table6_purification_aware", "UA_8", method="SalUn+vae"), "<", 10.0, " %"),
    ]
    a = "Figures 4-5, App. A.1"
    out += [
        Claim("abl-steps-salun", "Attack efficacy increases with the number of steps (SalUn, "
              "16/255: most steps vs none)", a, "rising curve (Figure 4)", "05",
              diff(_sweep("steps", "max"), _sweep("steps", "min")), ">", 0.0, " points"),
        Claim("abl-stepsize-vs-small", "The best step size is about 0.7-1/255: 1/255 beats the "
              "smallest step size (SalUn, 16/255)", a, "optimum at 0.7-1/255 (Figure 5)", "05",
              diff(_sweep("step_size", 1.0), _sweep("step_size", "min")), ">", 0.0, " points"),
        Claim("abl-stepsize-vs-large", "The best step size is about 0.7-1/255: 1/255 beats the "
              "largest step size (SalUn, 16/255)", a, "optimum at 0.7-1/255 (Figure 5)", "05",
              diff(_sweep("step_size", 1.0), _sweep("step_size", "max")), ">", 0.0, " points"),
    ]
    return out


RELEARN_STEPS = 100  # the quick profile's last relearning step count (RelearnConfig.steps)


def _our_checks() -> list[Claim]:
    """The profile's own quality lines: did unlearning work at all on our models?"""
    u = "our check"
    uc = lambda col, m: cell("unlearning_classwise", col, method=m)  # noqa: E731
    out = [
        Claim("ours-original-ua", "The original model recognises the forget classes (UA above "
              "95 %)", u, "UA 100 %", "01", uc("UA", "Original"), ">", 95.0, " %", "ours"),
        Claim("ours-retrain-ua", "Retraining forgets the forget classes (UA under 1 %)", u,
              "UA 0 %", "01", uc("UA", "retrain"), "<", 1.0, " %", "ours"),
    ]
    for m in ("FT", "RL", "l1-sparse", "SalUn", "SCRUB", "NegGrad+"):
        out.append(Claim(f"ours-{m.lower()}-ra", f"{m} keeps retain accuracy (drop under 5 points)",
                         u, "-", "01", diff(uc("RA", "Original"), uc("RA", m)), "<", 5.0,
                         " points", "ours"))
        out.append(Claim(f"ours-{m.lower()}-ua", f"{m} forgets (class-wise UA under 10 %)", u,
                         "-", "01", uc("UA", m), "<", 10.0, " %", "ours"))
    for m in ("GA", "IU"):
        out.append(Claim(f"ours-{m.lower()}-ta", f"{m} keeps test accuracy (drop under 10 points)",
                         u, "-", "01", diff(uc("TA", "Original"), uc("TA", m)), "<", 10.0,
                         " points", "ours"))
    # the relearning probe (not in the paper): does fine-tuning bring forget accuracy back
    # further for an approximate method than for retrain, the control?
    last = f"relearn_{RELEARN_STEPS}"
    for m in ("FT", "SalUn", "SCRUB"):
        out.append(Claim(f"ours-relearn-{m.lower()}", f"Class-wise, {RELEARN_STEPS} relearning steps "
                         f"(a few forget images per batch) bring {m}'s forget accuracy back further "
                         "than retrain's", "relearning probe, Table 1", "-", "02",
                         diff(_t1(last, m), _t1(last, "retrain")), ">", 0.0, " points", "ours"))
    out.append(Claim("ours-relearn-retain-ft", f"Class-wise, {RELEARN_STEPS} relearning steps on "
                     "retain images alone bring FT's forget accuracy back further than retrain's",
                     "relearning probe, Table 1", "-", "02",
                     diff(_t1(f"relearn_retain_{RELEARN_STEPS}", "FT"),
                          _t1(f"relearn_retain_{RELEARN_STEPS}", "retrain")), ">", 0.0,
                     " points", "ours"))
    # the input-size study (notebook 03): does the attacker's input count matter?
    for m in ("I2I", "SalUn"):
        out.append(Claim(f"ours-gen-size-{m.lower()}", f"UMA at 8/255 closes a larger share of "
                         f"{m}'s forget-set L1 gap at the study's largest input size than at its "
                         "smallest (same images and transformer, resized)", "input-size study",
                         "-", "03", diff(_size(m, "max"), _size(m, "min")), ">", 0.0,
                         " points", "ours"))
        out.append(Claim(f"ours-gen-size-90-{m.lower()}", f"At the study's largest input size, "
                         f"UMA at 8/255 closes at least 90 % of {m}'s forget-set L1 gap (the "
                         "paper's Table 7 claim, at our largest input)", "input-size study",
                         "-", "03", _size(m, "max"), ">", 90.0, " %", "ours"))
    out.append(Claim("ours-gen-separates", "Generative unlearning moves forget outputs more than "
                     "retain outputs (I2I, L1(I2, I1) forget minus 3x retain)", u, "-", "03",
                     Lin(((1.0, cell("table7_l1", "L1_per_image", method="I2I", set="forget",
                                     attack="none")),
                          (-3.0, cell("table7_l1", "L1_per_image", method="I2I", set="retain",
                                      attack="none")))), ">", 0.0, " per image", "ours"))
    return out


CLAIMS: tuple[Claim, ...] = tuple(_paper_claims() + _our_checks())


def _unique(claims: Sequence[Claim]) -> None:
    ids = [c.id for c in claims]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"claim ids must be unique: {dup}")


_unique(CLAIMS)


# ---------------------------------------------------------------------------------------------
# Deciding and writing


def load_tables(figures: Path, names: set[str]) -> dict[str, pd.DataFrame]:
    """``{name: <figures>/<name>_seeds.csv}`` for the names whose file exists."""
    out = {}
    for n in sorted(names):
        p = Path(figures) / f"{n}_seeds.csv"
        if p.is_file():
            out[n] = pd.read_csv(p)
    return out


def decide(claim: Claim, tables: Tables) -> dict[str, Any]:
    """One claim decided on the per-seed tables by :data:`RULE`.

    Returns the row of ``claims.csv``: id, claim, source, paper, test, ours_mean, ours_std,
    per_seed (the quantity per seed, "seed:value" joined by ";"), n_seeds, rule, verdict,
    notebook, origin, and low / high (the interval of the margins)."""
    row: dict[str, Any] = {"id": claim.id, "claim": claim.claim, "source": claim.source,
                           "paper": claim.paper, "test": claim.test(), "ours_mean": math.nan,
                           "ours_std": math.nan, "per_seed": "", "n_seeds": 0, "rule": RULE_ROW,
                           "verdict": "", "notebook": claim.notebook, "origin": claim.origin,
                           "unit": claim.unit.strip(), "low": math.nan, "high": math.nan}
    try:
        q = claim.quantity.values(tables).sort_index()
    except NotTestable as e:
        row["verdict"] = f"not testable here: {e}"
        return row
    margins = (q - claim.threshold) if claim.op == ">" else (claim.threshold - q)
    v = paired_verdict(margins.tolist())
    row.update(ours_mean=float(q.mean()) if len(q) else math.nan,
               ours_std=float(q.std(ddof=1)) if len(q) > 1 else math.nan,
               per_seed=";".join(f"{int(s)}:{x:.6g}" for s, x in q.items()),
               n_seeds=int(len(q)), verdict=v["verdict"], low=v["low"], high=v["high"])
    return row


def evaluate(figures: Path, notebook: str | None = None,
             claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    """Every claim (of ``notebook``, or all) decided on ``figures``' per-seed tables."""
    chosen = [c for c in claims if notebook is None or c.notebook == notebook]
    tables = load_tables(figures, set().union(*(c.quantity.tables() for c in chosen))
                         if chosen else set())
    return pd.DataFrame([decide(c, tables) for c in chosen], columns=COLUMNS)


COLUMNS = ["id", "claim", "source", "paper", "test", "ours_mean", "ours_std", "per_seed",
           "n_seeds", "rule", "verdict", "notebook", "origin", "unit", "low", "high"]


def _number(x: float, unit: str) -> str:
    if x != x:
        return "-"
    if unit in ("%", "points"):
        return f"{x:.1f}"
    if unit == "per image":
        return f"{x:,.0f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def ours_text(row: Mapping[str, Any]) -> str:
    """"mean ± std unit" of a decided claim (the mean alone with one seed, "-" untested)."""
    unit = row.get("unit", "")
    unit = unit if isinstance(unit, str) else ""  # read back from a CSV, an empty unit is NaN
    if not row["n_seeds"]:
        return "-"
    m = _number(row["ours_mean"], unit)
    sd = row["ours_std"]
    u = {"%": " %", "points": " pts", "per image": " /image", "": ""}.get(unit, " " + unit)
    return (m if sd != sd else f"{m} ± {_number(sd, unit)}") + u


def verdict_counts(df: pd.DataFrame) -> str:
    """"12 hold, 5 contradicted, ..." over the rows of a claims table."""
    kinds = [("holds", "hold"), ("contradicted", "contradicted"),
             ("not distinguishable", "not distinguishable"), ("undecided", "undecided")]
    parts = [f"{(df.verdict == v).sum()} {w}" for v, w in kinds if (df.verdict == v).any()]
    nt = df.verdict.str.startswith("not testable").sum()
    if nt:
        parts.append(f"{nt} not testable here")
    return ", ".join(parts)


def needs(row: Mapping[str, Any]) -> str:
    """The compact form of a claim's test: the side and threshold, e.g. "> 90 %"."""
    test = str(row["test"])
    for op in (" > ", " < "):
        if op in test:
            return op.strip() + " " + test.rsplit(op, 1)[1]
    return test


def to_markdown(df: pd.DataFrame, *, with_notebook: bool = False, compact: bool = False,
                origins: Sequence[str] = ("paper", "ours")) -> str:
    """The scoreboard as Markdown tables: claim, where, the paper's numbers, ours (mean ± std
    over seeds of the tested quantity), what the claim needs, the verdict; paper claims first,
    our checks after, each with its counts. ``compact`` shows the threshold alone instead of
    the whole test (``claims.csv`` has it)."""
    lines = []
    for origin, head in (("paper", "The paper's claims"), ("ours", "Our own quality checks "
                                                                  "(not the paper's claims)")):
        part = df[df.origin == origin]
        if part.empty or origin not in origins:
            continue
        nb = " notebook |" if with_notebook else ""
        lines += [f"**{head}** ({verdict_counts(part)}):", "",
                  f"| claim | source | paper | ours | {'needs' if compact else 'test'} |{nb} "
                  "verdict |", "|---|---|---|---|---|" + ("---|" if with_notebook else "") + "---|"]
        for _, r in part.iterrows():
            nbc = f" {r.notebook} |" if with_notebook else ""
            test = needs(r) if compact else f"`{r.test}`"
            lines.append(f"| {r.claim} | {r.source} | {r.paper} | {ours_text(r)} | {test} |"
                         f"{nbc} **{r.verdict}** |")
        lines.append("")
    lines.append(f"*{RULE_SHORT}* Seeds: {_seeds(df)}.")
    return "\n".join(lines)


VERDICT_COLOURS = {"holds": "#d7efd7", "contradicted": "#f5d0d0",
                   "not distinguishable": "#e8e8e8", "undecided": "#e8e8e8"}


def to_html(df: pd.DataFrame, *, compact: bool = True, with_notebook: bool = False,
            origins: Sequence[str] = ("paper", "ours")) -> str:
    """The scoreboard as HTML tables, one per origin, the verdict cells coloured (green holds,
    red contradicted, grey not distinguishable / undecided, yellow not testable)."""
    import html as _html

    esc = _html.escape
    out = []
    for origin, head in (("paper", "The paper's claims"), ("ours", "Our own quality checks "
                                                                  "(not the paper's claims)")):
        part = df[df.origin == origin]
        if part.empty or origin not in origins:
            continue
        cols = ["claim", "source", "paper", "ours", "needs" if compact else "test"] + (
            ["notebook"] if with_notebook else []) + ["verdict"]
        rows = []
        for _, r in part.iterrows():
            colour = VERDICT_COLOURS.get(r.verdict, "#fff3cd")
            cells = [r.claim, r.source, r.paper, ours_text(r), needs(r) if compact else r.test]
            cells += [r.notebook] if with_notebook else []
            tds = "".join(f"<td>{esc(str(c))}</td>" for c in cells)
            rows.append(f'<tr>{tds}<td style="background:{colour}"><b>{esc(r.verdict)}</b>'
                        "</td></tr>")
        ths = "".join(f"<th>{c}</th>" for c in cols)
        out.append(f"<p><b>{head}</b> ({esc(verdict_counts(part))}):</p>"
                   f'<table class="umalib-claims"><thead><tr>{ths}</tr></thead>'
                   f"<tbody>{''.join(rows)}</tbody></table>")
    out.append(f"<p><em>{esc(RULE_SHORT)}</em> Seeds: {esc(_seeds(df))}.</p>")
    return "\n".join(out)


class View:
    """A decided claims table as a notebook shows it: coloured HTML, Markdown, plain text."""

    def __init__(self, df: pd.DataFrame, title: str = "") -> None:
        self.df, self.title = df, title

    def _repr_html_(self) -> str:
        import html as _html

        return (f"<h3>{_html.escape(self.title)}</h3>" if self.title else "") + to_html(self.df)

    def _repr_markdown_(self) -> str:
        return (f"### {self.title}\n\n" if self.title else "") + to_markdown(self.df, compact=True)

    def __repr__(self) -> str:
        return self._repr_markdown_()


def _seeds(df: pd.DataFrame) -> str:
    n = df.loc[df.n_seeds > 0, "n_seeds"]
    return "none" if n.empty else (f"{int(n.max())}" if n.min() == n.max()
                                   else f"{int(n.min())}-{int(n.max())}")


def write(df: pd.DataFrame, figures: Path) -> pd.DataFrame:
    """Merge ``df`` into ``<figures>/claims.csv`` (rows of the same notebooks replaced, others
    kept) and rewrite ``claims.md``; returns the whole merged table in registry order."""
    path = Path(figures) / "claims.csv"
    old = pd.read_csv(path, dtype={"notebook": str}) if path.is_file() else pd.DataFrame(
        columns=COLUMNS)
    keep = old[~old.notebook.astype(str).isin(set(df.notebook))]
    order = {c.id: i for i, c in enumerate(CLAIMS)}
    merged = pd.concat([keep[COLUMNS], df[COLUMNS]], ignore_index=True)
    merged = merged[merged.id.isin(order)]  # claims removed from the registry drop out
    merged = merged.sort_values("id", key=lambda s: s.map(order)).reset_index(drop=True)
    atomic_write(path, lambda p: merged.to_csv(p, index=False, float_format="%.6g"))
    md = ("# Which of the paper's claims hold\n\n" + to_markdown(merged, with_notebook=True)
          + f"\n\nRule: {RULE}.\n")
    atomic_write(Path(figures) / "claims.md", lambda p: Path(p).write_text(md))
    return merged


# ---------------------------------------------------------------------------------------------
# In a notebook: a scoreboard at the top, filled in when the notebook's tables exist

_MARK = {"umalib": "claims"}
_READING = {"umalib": "claims-reading"}  # a verdict shown where its numbers are (Scoreboard.show)


class Scoreboard:
    """The claims of one notebook, shown at the top of it.

    ``Scoreboard(notebook, figures)`` displays a placeholder; :meth:`publish`, called once the
    notebook has written its tables, decides the claims, writes ``claims.csv`` / ``claims.md``,
    and replaces the placeholder in place (papermill keeps the update in the executed
    notebook), so a reader meets the verdicts first."""

    def __init__(self, notebook: str, figures: Path) -> None:
        if notebook not in NOTEBOOKS:
            raise ValueError(f"unknown notebook {notebook!r}; known: {sorted(NOTEBOOKS)}")
        from IPython.display import Markdown
        from IPython.display import display as ipy_display

        self.notebook, self.figures = notebook, Path(figures)
        self._handle = ipy_display(
            Markdown("**Claims tested in this notebook:** decided at the end of the run from "
                     "its per-seed tables (this cell then shows them)."),
            metadata=_MARK, display_id=True)

    def show(self, ids: Sequence[str], title: str) -> pd.DataFrame:
        """Decide now, from the tables written so far, the claims ``ids`` of this notebook and
        display them where their numbers are (a reading by the same rule as the scoreboard);
        returns their rows."""
        from IPython.display import display as ipy_display

        unknown = sorted(set(ids) - {c.id for c in CLAIMS if c.notebook == self.notebook})
        if unknown:
            raise ValueError(f"not claims of notebook {self.notebook}: {unknown}")
        df = evaluate(self.figures, self.notebook)
        rows = df[df.id.isin(ids)]
        ipy_display(View(rows, title), metadata=_READING)
        return rows

    def publish(self) -> pd.DataFrame:
        """Decide this notebook's claims, write them, update the scoreboard; returns them."""
        df = evaluate(self.figures, self.notebook)
        write(df, self.figures)
        if self._handle is not None:
            self._handle.update(View(df, "Which claims hold here"), metadata=_MARK)
        return df
