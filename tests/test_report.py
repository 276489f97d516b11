"""Tables written by the notebooks: CSV/Markdown content, and what publish_table returns."""

import math
import stat

import pandas as pd

from umalib.reporting import files as report


def test_publish_table_writes_ours_only_and_returns_rows_by_method(capsys):
    ours = pd.DataFrame([{"method": "FT", "UA": 7.5, "MIA": 0.046}, {"method": "retrain", "UA": 0.0, "MIA": math.nan}])
    paper = pd.DataFrame([{"method": "FT (paper, CIFAR-10)", "UA": 22.2, "MIA": 0.0928}])
    rows = report.publish_table(ours, "t", "unit", columns=["method", "UA", "MIA"], title="T",
                                notes=["a note"], paper=paper, paper_caption="the paper's")
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
