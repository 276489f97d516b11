"""Execute every notebook on the smoke profile (papermill) and check what it recorded."""

import json
import re
from pathlib import Path

import pytest

from umalib import config

from conftest import requires_fmnist

pytestmark = [requires_fmnist, pytest.mark.notebooks]


def test_executed_notebooks_show_their_figures(smoke_run):
    base, _ = smoke_run
    for nb in sorted((base / "runs").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        saved = sum(c["source"].count("save_figure(") if isinstance(c["source"], str)
                    else "".join(c["source"]).count("save_figure(") for c in cells
                    if c["cell_type"] == "code")
        pngs = sum("image/png" in o.get("data", {}) for c in cells if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
        assert pngs >= saved, (nb.name, pngs, saved)  # a loop saves more figures than it has calls


def _results(base: Path, stem: str) -> dict:
    return json.loads((base / "figures" / "smoke" / f"results_{stem}.json").read_text())


def test_all_notebooks_ran(smoke_run):
    base, rows = smoke_run
    failed = {k: r["error"] for k, r in rows.items() if r["error"]}
    assert not failed, failed
    assert sorted(rows) == ["00", "01", "02", "03", "04", "05"]
    executed = sorted(p.name for p in (base / "runs").glob("*.ipynb"))
    assert len(executed) == 6


EXPECTED = {
    "00": ["samples.png", "original_model.csv"],
    "01": ["unlearning_classwise.csv", "unlearning_instancewise.csv", "unlearning_methods.png"],
    "02": ["table1_classwise.csv", "table2_instancewise.csv", "fig1_uma_examples.png",
           "verification.csv", "verification.png"],
    "03": ["table3_generative.csv", "table7_l1.csv", "fig2_i2i.png", "fig3_salun.png",
           "gen_budget.csv", "fig_gen_budget.png", "gen_original_error.csv", "gen_input_size.csv",
           "fig_gen_input_size.png"],
    "04": ["table4_adversarial_unlearning.csv", "table5_purification_unaware.csv",
           "table6_purification_aware.csv"],
    "05": ["ablation_steps.csv", "ablation_stepsize.csv", "fig4_ablation_steps.png",
           "fig5_ablation_stepsize.png"],
}


@pytest.mark.parametrize("nb", sorted(EXPECTED))
def test_outputs_written(smoke_run, nb):
    base, rows = smoke_run
    d = base / "figures" / "smoke"
    for f in EXPECTED[nb]:
        assert (d / f).stat().st_size > 0, f
        if f.endswith(".csv"):
            assert (d / f.replace(".csv", ".md")).exists()


def _with_spread(cols: str, keys: int = 1) -> str:
    """The header of an aggregated table: its columns, ``<col>_std`` of the numeric ones, n_seeds."""
    c = cols.split(",")
    return ",".join(c + [f"{x}_std" for x in c[keys:]] + ["n_seeds"])


def test_table_columns(smoke_run):
    base, _ = smoke_run
    d = base / "figures" / "smoke"
    head = lambda f: (d / f).read_text().splitlines()[0]
    t1 = "method,TA,UA,MIA,UA_8,MIA_8,UA_16,MIA_16,residual_8,residual_16," + ",".join(
        [f"relearn_{k}" for k in (0, 2, 5)] + ["relearn_retain_5"])  # smoke's relearn steps
    assert head("table1_classwise.csv") == _with_spread(t1)
    assert head("unlearning_classwise.csv") == _with_spread("method,TA,RA,UA,MIA,seconds")
    assert head("ablation_steps.csv") == _with_spread("method,steps,UA,MIA", keys=2)
    assert head("ablation_stepsize.csv") == _with_spread("method,step_size,UA,MIA", keys=2)
    assert head("gen_budget.csv") == _with_spread("method,set,eps,L1_per_image,closed", keys=3)
    assert head("table3_generative.csv") == _with_spread(
        "method,attack,IS_R,IS_F,FID_R,FID_F,Acc_R,Acc_F", keys=2)
    assert head("table1_classwise_seeds.csv") == "seed," + t1
    assert head("probes_classwise.csv") == _with_spread(
        "method,UA,UA_uma,UA_relearn,UA_relearn_retain,uma_seconds,relearn_seconds")
    # the verifier's strong line never finds less than its standard line, seed by seed
    import pandas as pd
    v = pd.read_csv(d / "verification_seeds.csv")
    smoke = config.load("smoke")
    assert len(v) == len(smoke.verify.models) * len(smoke.seeds)
    assert (v["mapped_strong"] >= v["mapped_standard"]).all()
    assert (v["residual_strong"] >= v["residual_standard"]).all()
    rows = [l.split(",")[0] for l in (d / "table1_classwise.csv").read_text().splitlines()[1:]]
    assert rows == ["Original", "retrain", "FT", "RL", "GA", "IU", "l1-sparse", "SalUn", "SCRUB",
                    "NegGrad+"]


AGGREGATED = {"table1_classwise": ["method"], "table2_instancewise": ["method"],
              "unlearning_classwise": ["method"], "table3_generative": ["method", "attack"],
              "table7_l1": ["method", "set", "attack"], "gen_budget": ["method", "set", "eps"],
              "gen_original_error": ["set"], "verification": ["method"],
              "table4_adversarial_unlearning": ["method"],
              "table5_purification_unaware": ["method"], "table6_purification_aware": ["method"],
              "ablation_steps": ["method", "steps"], "ablation_stepsize": ["method", "step_size"],
              "original_model": ["model"], "probes_classwise": ["method"],
              "probes_instancewise": ["method"]}


@pytest.mark.parametrize("name", sorted(AGGREGATED))
def test_every_table_is_the_mean_of_its_seeds(smoke_run, name):
    import pandas as pd

    base, _ = smoke_run
    d = base / "figures" / "smoke"
    agg, long = pd.read_csv(d / f"{name}.csv"), pd.read_csv(d / f"{name}_seeds.csv")
    by = AGGREGATED[name]
    assert sorted(long["seed"].unique()) == [0, 1]  # the smoke profile's seeds
    assert (agg["n_seeds"] == 2).all()
    stds = [c[:-4] for c in agg.columns if c.endswith("_std")]
    assert stds, "no spread columns"
    for _, row in agg.iterrows():
        sel = long
        for k in by:
            sel = sel[sel[k] == row[k]]
        assert len(sel) == 2, (name, row[by].tolist())
        for c in stds:
            # CSVs hold 6 significant digits: allow that rounding of the per-seed values
            tol = 1e-5 * float(sel[c].abs().max()) + 1e-6 if sel[c].notna().any() else 1e-6
            assert row[c] == pytest.approx(sel[c].mean(), abs=tol, nan_ok=True), (name, c)
            assert row[f"{c}_std"] == pytest.approx(sel[c].std(ddof=1), abs=2 * tol, nan_ok=True), (name, c)
    md = (d / f"{name}.md").read_text()
    assert "±" in md and "over 2 seeds" in md


def test_recorded_values_are_sane(smoke_run):
    base, _ = smoke_run
    r0 = _results(base, "00_setup")
    assert 0 <= r0["test_acc"] <= 100 and 0 <= r0["train_acc"] <= 100
    r2 = _results(base, "02_uma_attack")
    for row in r2["table1"].values():
        for k, v in row.items():
            if v is None or k.endswith("_std") or k == "n_seeds":
                continue
            assert (0 <= v <= 100) if k.startswith(("UA", "TA", "relearn")) else (0 <= v <= 1), (k, v)
    # residual counts a subset of the attacked samples the unlearned model gets right
    for m, row in r2["table1"].items():
        if row["residual_8"] is not None:
            assert row["residual_8"] <= row["UA_8"] / 100 + 1e-6, m  # float32 shares
            assert row["residual_16"] <= row["UA_16"] / 100 + 1e-6, m


def test_notebooks_read_everything_from_the_cache(smoke_run):
    # smoke_run filled the cache with a sweep first: every notebook only reads artifacts
    # (the sweep test checks the same rows against the sweep's own output)
    base, rows = smoke_run
    assert all(r["built"] == 0 and r["cache_hits"] >= 1 for r in rows.values()), rows
    assert _results(base, "00_setup")["cache_hit"] is True


# Words that state agreement with the paper: only the claims registry may print them.
VERDICT_WORDS = re.compile(r"\b(holds?|contradict(s|ed)?|not distinguishable|agrees?|disagrees?|"
                           r"supported|undecided|not testable|reproduced)\b", re.IGNORECASE)


def _output_text(o: dict) -> str:
    if o.get("output_type") == "stream":
        return "".join(o.get("text", ""))
    data = o.get("data", {})
    return " ".join("".join(data[k]) if isinstance(data[k], list) else str(data[k])
                    for k in ("text/plain", "text/html", "text/markdown") if k in data)


def test_verdicts_come_only_from_the_claims_registry(smoke_run):
    from umalib.reporting.claims import CLAIMS

    base, _ = smoke_run
    with_claims = {c.notebook for c in CLAIMS}
    for nb in sorted((base / "runs").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        boards = []
        for i, c in enumerate(cells):
            if c["cell_type"] == "markdown":
                text = "".join(c["source"])
                assert not re.search(r"\b(ours|we) (agree|disagree)", text, re.I), nb.name
                continue
            for o in c.get("outputs", []):
                mark = o.get("metadata", {}).get("umalib")
                if mark == "claims":
                    boards.append((i, _output_text(o)))
                    continue
                if mark == "claims-reading":  # Scoreboard.show: the registry's verdicts again
                    continue
                hit = VERDICT_WORDS.search(_output_text(o))
                assert hit is None, (nb.name, i, hit and _output_text(o)[max(0, hit.start() - 80):hit.end() + 40])
        if nb.name[:2] in with_claims:
            # one scoreboard, near the top, already holding the decided verdicts
            assert len(boards) == 1, (nb.name, len(boards))
            first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code"
                              and "parameters" not in c["metadata"].get("tags", [])
                              and "injected-parameters" not in c["metadata"].get("tags", []))
            assert boards[0][0] == first_code, nb.name
            assert "Which claims hold here" in boards[0][1], nb.name
            assert re.search(r"holds|contradicted|not distinguishable|undecided|not testable",
                             boards[0][1]), nb.name
        else:
            assert not boards, nb.name


def test_smoke_claims_file(smoke_run):
    import pandas as pd

    from umalib.reporting.claims import CLAIMS
    from umalib.reporting.seeds import VERDICTS

    base, _ = smoke_run
    df = pd.read_csv(base / "figures" / "smoke" / "claims.csv", dtype={"notebook": str})
    assert list(df.id) == [c.id for c in CLAIMS]  # every notebook's claims, registry order
    ok = df.verdict.isin(VERDICTS) | df.verdict.str.startswith("not testable here")
    assert ok.all(), df.loc[~ok, ["id", "verdict"]]
    decided = df[df.verdict.isin(VERDICTS)]
    assert (decided.n_seeds == 2).all() and decided.per_seed.str.count(":").eq(2).all()
