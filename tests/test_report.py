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
    # units in the headers, fixed decimals per column, "-" for a missing cell
    assert md.startswith("### T") and "| method | UA (%) | MIA (0-1) |" in md
    assert "| FT | 7.50 | 0.046 |" in md and "| retrain | 0.00 | - |" in md and "- a note" in md
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
    assert "n_seeds" not in md.split("\n\n")[1]  # said in the note, not as a column
    assert out.UA.tolist() == [15.0, 42.0]


def test_paired_verdicts():
    from umalib.reporting.seeds import paired_verdict

    assert paired_verdict([5.0, 6.0, 5.5])["verdict"] == "holds"
    assert paired_verdict([-5.0, -6.0, -5.5])["verdict"] == "contradicted"
    assert paired_verdict([5.0, -6.0, 1.0])["verdict"] == "not distinguishable"
    assert paired_verdict([5.0])["verdict"] == "undecided"
    # "SalUn is more robust than RL" through the claims registry's paired difference
    from umalib.reporting.claims import Claim, cell, decide, diff
    from umalib.reporting.seeds import long_table

    long = long_table({s: pd.DataFrame([{"method": "SalUn", "UA_16": u}, {"method": "RL", "UA_16": r}])
                       for s, (u, r) in enumerate([(30, 50), (35, 52), (33, 49)])})
    q = diff(cell("t", "UA_16", method="RL"), cell("t", "UA_16", method="SalUn"))
    row = decide(Claim("x", "x", "s", "-", "02", q, ">"), {"t": long})
    assert row["per_seed"] == "0:20;1:17;2:16" and row["verdict"] == "holds"




def test_shown_tables_drop_spread_on_constants_and_split_when_wide():
    from umalib.reporting.format import Shown, format_table

    df = pd.DataFrame({"method": ["FT", "RL"], "samples": [200.0, 200.0], "samples_std": [0.0, 0.0],
                       "UA": [81.4667, 1.4889], "UA_std": [2.2121, 0.7727],
                       "MIA": [0.0571, 0.0], "MIA_std": [0.0397, 0.0], "n_seeds": [3, 3]})
    text = format_table(df)
    assert list(text.columns) == ["method", "samples", "UA (%)", "MIA (0-1)"]
    assert text["samples"].tolist() == ["200", "200"]  # a constant: no "± 0.00"
    assert text["UA (%)"].tolist() == ["81.47 ± 2.21", "1.49 ± 0.77"]  # one decimal count per column
    assert text["MIA (0-1)"].tolist() == ["0.057 ± 0.040", "0.000 ± 0.000"]
    wide = pd.DataFrame({"method": ["FT"], **{f"c{i}": [float(i)] for i in range(18)}})
    parts = Shown(wide).parts
    assert len(parts) == 3 and all(p.columns[0] == "method" for p in parts)
    assert sum(len(p.columns) - 1 for p in parts) == 18
    html = Shown(df, "cap")._repr_html_()
    assert "<th>UA (%)</th>" in html and "cap" in html and "index" not in html
