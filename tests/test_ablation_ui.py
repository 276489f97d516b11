"""Notebook 05's machinery: trajectory recording in the sweep, and the headless widget panel."""

import pytest

from umalib import config
from umalib.reporting import widgets as ui
from umalib.experiments import Experiment

from conftest import requires_fmnist

pytestmark = requires_fmnist


@pytest.fixture(scope="module")
def exp():
    prof = config.load("smoke", **{"data.train_subset": 400, "data.test_subset": 200, "model.width": 4,
                                   "mia_shadow_max": 100, "methods.FT.epochs": 1})
    return Experiment(prof, progress=False)


def test_steps_sweep_equals_separate_runs(exp):
    st = exp.ablations.steps_sweep(["FT"], [0, 2, 5], eps=16 / 255, step_size=1 / 255, max_samples=24)
    for t in (2, 5):
        alone = exp.ablations.stepsize_sweep(["FT"], [1 / 255], eps=16 / 255, steps=t, max_samples=24)
        assert alone.step_size.iloc[0] == 1.0  # the published column reads in units of 1/255
        row = st[st.steps == t].iloc[0]
        assert row.UA == pytest.approx(alone.UA.iloc[0]) and row.MIA == pytest.approx(alone.MIA.iloc[0])
    # 0 steps = the clean model
    clean = ui.run_attack(exp, method="FT", steps=0, max_samples=24, show=False)
    assert st[st.steps == 0].UA.iloc[0] == pytest.approx(clean["UA_clean"])


def test_panel_headless_reports_the_attack_it_ran(exp):
    from umalib.attacks import uma
    from umalib.metrics import predictions

    kw = dict(method="FT", eps=8 / 255, step_size=1 / 255, steps=3, loss="kl", restarts=1, max_samples=16)
    panel = ui.attack_panel(exp, interactive=False, show=False, **kw)
    assert len(panel.history) == 1 and panel.last["samples"] == 16
    assert (panel.last["eps"], panel.last["step_size"]) == (8 / 255, 1 / 255)  # fractions
    # the panel's numbers are those of UMA run by hand on the same seeded subset, in its units
    orig, unl = exp.original().model, exp.unlearned("classwise", "FT").model
    x, y = exp.scenario("classwise").attack_subset(16, exp.profile.seed)
    res = uma(orig, unl, x, labels=y, eps=8 / 255, step_size=1 / 255, steps=3, loss="kl",
              seed=exp.profile.seed, progress=False)
    assert panel.last["UA"] == pytest.approx(100 * (predictions(unl, res.x_adv) == y).float().mean().item())
    assert panel.last["UA_clean"] == pytest.approx(100 * (predictions(unl, x) == y).float().mean().item())
    assert panel.last["mapped_back"] == pytest.approx(
        (predictions(unl, res.x_adv) == predictions(orig, x)).float().mean().item())


def test_run_attack_validates_method(exp):
    with pytest.raises(ValueError, match="method must be one of"):
        ui.run_attack(exp, method="nope", show=False)
