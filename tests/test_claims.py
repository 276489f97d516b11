"""The claims registry: one rule, the verdicts it gives, and the committed quick scoreboard."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from umalib.cache import REPO_ROOT
from umalib.cli.claims import readme_block, replace_block
from umalib.reporting import claims
from umalib.reporting.claims import CLAIMS, Claim, cell, decide, diff, gap_closed

QUICK = REPO_ROOT / "figures" / "quick"


def _long(rows: dict[int, list[dict]]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame(r).assign(seed=s) for s, r in rows.items()], ignore_index=True)


def _t1(values: dict[int, tuple[float, float]]) -> dict[str, pd.DataFrame]:
    return {"t": _long({s: [{"method": "A", "UA": a}, {"method": "B", "UA": b}]
                        for s, (a, b) in values.items()})}


def _claim(q, op=">", threshold=0.0) -> Claim:
    return Claim("x", "x", "Table 1", "-", "02", q, op, threshold)


def test_threshold_claims_follow_the_rule():
    tables = _t1({0: (95, 0), 1: (96, 0), 2: (97, 0)})
    assert decide(_claim(cell("t", "UA", method="A"), ">", 90), tables)["verdict"] == "holds"
    assert decide(_claim(cell("t", "UA", method="A"), "<", 90), tables)["verdict"] == "contradicted"
    # the mean is above 90 but one seed is far below: the interval straddles the threshold
    spread = _t1({0: (99, 0), 1: (99, 0), 2: (80, 0)})
    row = decide(_claim(cell("t", "UA", method="A"), ">", 90), spread)
    assert row["verdict"] == "not distinguishable" and row["ours_mean"] > 90
    one = _t1({0: (95, 0)})
    assert decide(_claim(cell("t", "UA", method="A"), ">", 90), one)["verdict"] == "undecided"


def test_paired_claims_use_the_per_seed_differences():
    # A is higher than B on every seed by 2-3 points, while both vary by 20 points over seeds:
    # unpaired means would not separate them, the paired differences do.
    tables = _t1({0: (52, 50), 1: (73, 70), 2: (32, 30)})
    row = decide(_claim(diff(cell("t", "UA", method="A"), cell("t", "UA", method="B"))), tables)
    assert row["verdict"] == "holds" and row["per_seed"] == "0:2;1:3;2:2"
    assert row["ours_mean"] == pytest.approx(7 / 3)


def test_gap_closed_and_missing_rows():
    tables = {"g": _long({s: [{"method": "O", "a": "none", "F": 1.0},
                              {"method": "M", "a": "none", "F": 5.0},
                              {"method": "M", "a": "8", "F": 5.0 - x}]
                          for s, x in enumerate([3.0, 3.2, 2.8])})}
    q = gap_closed(cell("g", "F", method="M", a="none"), cell("g", "F", method="M", a="8"),
                   cell("g", "F", method="O", a="none"))
    row = decide(_claim(q, ">", 0.5), tables)
    assert row["ours_mean"] == pytest.approx(0.75) and row["verdict"] == "holds"
    missing = decide(_claim(cell("g", "F", method="Z", a="none")), tables)
    assert missing["verdict"].startswith("not testable here") and "method=Z" in missing["verdict"]
    absent = decide(_claim(cell("nope", "F", method="M")), tables)
    assert absent["verdict"] == "not testable here: nope_seeds.csv is missing"


def test_registry_is_well_formed():
    paper = [c for c in CLAIMS if c.origin == "paper"]
    assert len(paper) >= 14 and len({c.id for c in CLAIMS}) == len(CLAIMS)
    assert {c.notebook for c in paper} == {"02", "03", "04", "05"}
    assert any(c.origin == "ours" for c in CLAIMS)
    with pytest.raises(ValueError, match="op"):
        Claim("y", "y", "s", "-", "02", cell("t", "UA", method="A"), ">=")
    with pytest.raises(ValueError, match="notebook"):
        Claim("y", "y", "s", "-", "07", cell("t", "UA", method="A"), ">")


def test_write_merges_by_notebook(tmp_path):
    t = _long({s: [{"method": m, "UA_8": u, "UA_16": u, "UA": u, "TA": 90, "RA": 90}
                   for m, u in (("FT", 95 + s), ("RL", 10 + s), ("retrain", 0), ("Original", 99),
                                ("SalUn", 5 + s), ("IU", 96), ("l1-sparse", 30))]
               for s in range(3)})
    t.to_csv(tmp_path / "table1_classwise_seeds.csv", index=False)
    first = claims.write(claims.evaluate(tmp_path, "02"), tmp_path)
    assert set(first.notebook) == {"02"}
    assert first.set_index("id").loc["cw-ft-mapped", "verdict"] == "holds"
    t.to_csv(tmp_path / "unlearning_classwise_seeds.csv", index=False)
    both = claims.write(claims.evaluate(tmp_path, "01"), tmp_path)
    assert set(both.notebook) == {"01", "02"} and len(both) == len(first) + sum(
        c.notebook == "01" for c in CLAIMS)
    assert list(both.id) == [c.id for c in CLAIMS if c.notebook in ("01", "02")]  # registry order
    assert "Which of the paper's claims hold" in (tmp_path / "claims.md").read_text()


def _independent_verdict(values: np.ndarray) -> str:
    """The rule, written out again without the registry: a 95 % t-interval of the margins."""
    n = len(values)
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    lo, hi = values.mean() - half, values.mean() + half
    return "holds" if lo > 0 else "contradicted" if hi < 0 else "not distinguishable"


@pytest.mark.skipif(not (QUICK / "claims.csv").is_file(), reason="no committed quick run")
def test_committed_verdicts_recomputed_from_the_csvs():
    committed = pd.read_csv(QUICK / "claims.csv", dtype={"notebook": str}).set_index("id")
    t1 = pd.read_csv(QUICK / "table1_classwise_seeds.csv")
    by = lambda m, c: t1[t1.method == m].sort_values("seed")[c].to_numpy(float)  # noqa: E731
    # a threshold claim: FT's UA at 8/255 above 90 %
    ft = by("FT", "UA_8")
    assert committed.loc["cw-ft-mapped", "verdict"] == _independent_verdict(ft - 90)
    assert committed.loc["cw-ft-mapped", "ours_mean"] == pytest.approx(ft.mean(), rel=1e-5)
    # a paired claim: RL more robust than l1-sparse at 8/255
    d = by("l1-sparse", "UA_8") - by("RL", "UA_8")
    assert committed.loc["cw-rl-beats-l1", "verdict"] == _independent_verdict(d)
    assert committed.loc["cw-rl-beats-l1", "ours_mean"] == pytest.approx(d.mean(), rel=1e-5)
    # every committed verdict is what the registry decides on the committed tables today
    fresh = claims.evaluate(QUICK).set_index("id")
    assert fresh["verdict"].to_dict() == committed["verdict"].to_dict()
    assert (committed.origin == "paper").sum() >= 14


@pytest.mark.skipif(not (QUICK / "claims.csv").is_file(), reason="no committed quick run")
def test_readme_starts_with_the_committed_scoreboard():
    readme = (REPO_ROOT / "README.md").read_text()
    df = pd.read_csv(QUICK / "claims.csv", dtype={"notebook": str})
    assert readme_block(df) in readme, "run `python -m umalib claims --readme`"
    first = readme.split("\n## ")[1]  # the README's first section, right after its intro
    assert first.startswith("Which of the paper's claims hold") and "<!-- claims:start -->" in first


def test_replace_block_needs_markers():
    block = "<!-- claims:start -->\ny\n<!-- claims:end -->"
    assert replace_block("a <!-- claims:start -->\nx\n<!-- claims:end --> b", block) == \
        f"a {block} b"
    with pytest.raises(ValueError, match="block"):
        replace_block("no markers", block)
