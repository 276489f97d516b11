"""Tables written by the notebooks: CSV/Markdown content, and what publish_table returns."""

import math
import stat

import pandas as pd
import pytest

from umalib.reporting import files as report


def test_publish_table_writes_ours_only_and_returns_rows_by_method(capsys):
    ours = pd.DataFrame([{"method": "FT", "UA": 7.5, "MIA": 0.046}, {"method": "retrain", "UA": 0.0, "MIA": math.nan}])
    paper = pd.DataFrame([{"method": "FT (paper, CIFAR-10)", "UA": 22.2, "MIA": 0.0928}])
    out = report.publish_table(ours, "t", "unit", columns=["method", "UA", "MIA"], title="T",
                               notes=["a note"], paper=paper, paper_caption="the paper's")
    rows = report.records(out)
    assert rows["FT"] == {"UA": 7.5, "MIA": 0.046} and math.isnan(rows["retrain"]["MIA"])
    d = report.figures_dir("unit")
    written = pd.read_csv(d / "t.csv")
    assert list(written.columns) == ["method", "UA", "MIA"]
    assert list(written["method"]) == ["FT", "retrain"]  # the paper's rows are shown, not written
    md = (d / "t.md").read_text()
    assert md.startswith("### T") and "| retrain | 0.0000 | - |" in md and "- a note" in md
    assert "paper" not in md
    assert stat.S_IMODE((d / "t.csv").stat().st_mode) == 0o644
    shown = capsys.readouterr().out  # outside IPython, display() prints
    assert "FT (paper, CIFAR-10)" in shown and "22.2" in shown


def test_per_seed_tables_are_aggregated_with_their_spread():
    per_seed = {0: pd.DataFrame([{"method": "FT", "UA": 10.0, "note": "a"}, {"method": "RL", "UA": 40.0, "note": "a"}]),
                1: pd.DataFrame([{"method": "FT", "UA": 20.0, "note": "a"}, {"method": "RL", "UA": 44.0, "note": "b"}])}
    out = report.write_table(per_seed, "s", "unit", title="S")
    d = report.figures_dir("unit")
    written = pd.read_csv(d / "s.csv")
    assert list(written.columns) == ["method", "UA", "note", "UA_std", "n_seeds"]
    assert written.UA.tolist() == [15.0, 42.0] and written.n_seeds.tolist() == [2, 2]
    assert written.UA_std[0] == pytest.approx(math.sqrt(50.0))
    assert written.note.tolist() == ["a", "a; b"]
    long = pd.read_csv(d / "s_seeds.csv")
    assert list(long.columns) == ["seed", "method", "UA", "note"] and long.seed.tolist() == [0, 0, 1, 1]
    md = (d / "s.md").read_text()
    assert "| FT | 15.00 ± 7.07 | a |" in md and "over 2 seeds" in md
    assert out.UA.tolist() == [15.0, 42.0]


def test_paired_verdicts():
    from umalib.reporting.seeds import compare, long_table, paired_verdict

    assert paired_verdict([5.0, 6.0, 5.5])["verdict"] == "supported"
    assert paired_verdict([-5.0, -6.0, -5.5])["verdict"] == "contradicted"
    assert paired_verdict([5.0, -6.0, 1.0])["verdict"] == "not distinguishable"
    assert paired_verdict([5.0])["verdict"] == "undecided"
    long = long_table({s: pd.DataFrame([{"method": "SalUn", "UA_16": u}, {"method": "RL", "UA_16": r}])
                       for s, (u, r) in enumerate([(30, 50), (35, 52), (33, 49)])})
    c = compare(long, "SalUn", "RL", "UA_16")  # lower UA = more robust
    assert c["diffs"] == [20.0, 17.0, 16.0] and c["verdict"] == "supported"


def test_defense_findings_decide_on_the_spread():
    from umalib.reporting.findings import defense_findings
    from umalib.reporting.seeds import aggregate, long_table

    cols = ["method", "TA", "UA", "MIA", "UA_8", "MIA_8", "UA_16", "MIA_16"]
    # RL+adv is lower on the mean (40 vs 60) but one seed says the opposite: not decided
    t4s = {s: pd.DataFrame([["RL", 90, 0, 0, 20, .1, u, .3], ["RL+adv", 89, 0, 0, 5, 0, a, .1]], columns=cols)
           for s, (u, a) in enumerate([(60, 10), (60, 10), (60, 100)])}
    t5s = {s: pd.DataFrame([["FT", 90, 5, 0, 90, .9, 99, .9], ["FT+vae", 85, 5, 0, 8 + s, 0, 9, 0]], columns=cols)
           for s in range(3)}
    found = defense_findings(aggregate(t4s), aggregate(t5s), aggregate(t5s),
                             seeds=(long_table(t4s), long_table(t5s), long_table(t5s)))
    adv = next(f for f in found if f["check"].startswith("RL+adv"))
    assert adv["verdict"] == "not distinguishable" and adv["met"] is False
    assert "on the means, not on the spread" in adv["sentence"]
    vae = next(f for f in found if f["check"].startswith("FT+vae (unaware)"))
    assert vae["verdict"] == "supported" and vae["met"] is True
