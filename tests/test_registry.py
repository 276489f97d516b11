"""The registries others extend: a method of your own (the README's example, from a module
outside umalib) runs through an Experiment, the tables and the verifier; a probe of your own
lands in the registry the stages use."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

from umalib import config, provenance
from umalib.attacks import PROBES, probe_spec, register_probe, run_probe
from umalib.experiments import Experiment, tables
from umalib.reporting import verify_report
from umalib.unlearn import METHOD_REGISTRY
from umalib.verify import verify

from conftest import requires_fmnist

README = Path(__file__).resolve().parents[1] / "README.md"
# the tiny real setup of test_unlearn.py (same overrides: its original comes from the cache)
TINY = {"data.train_subset": 600, "data.test_subset": 300, "model.width": 4, "train.epochs": 6,
        "train.batch_size": 64, "train.lr": 0.05, "mia_shadow_max": 200}


def readme_method_example() -> str:
    """The first Python block of the README's "Add your own method or probe" section."""
    section = README.read_text().split("## Add your own method or probe", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The README's example written to a module outside umalib, importable as my_lab_uniform."""
    (tmp_path / "my_lab_uniform.py").write_text(readme_method_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_lab_uniform", raising=False)  # a fresh import registers
    yield tmp_path / "my_lab_uniform.py"
    METHOD_REGISTRY.pop("Uniform", None)
    sys.modules.pop("my_lab_uniform", None)


def test_readme_example_is_short():
    assert len(readme_method_example().strip().splitlines()) < 30


@requires_fmnist
def test_a_method_from_outside_umalib_runs_through_experiment_tables_and_verifier(plugin):
    prof = config.load("smoke", plugins=("my_lab_uniform",),
                       **{"methods+": "Uniform", "methods.Uniform.epochs": 1, **TINY})
    assert list(prof.methods)[-1] == "Uniform" and prof.methods["Uniform"].weight == 1.0
    exp = Experiment(prof, progress=False)
    built = exp.unlearned("classwise", "Uniform")
    # the unlearning table and Table 1 (UMA and the relearning probe) have its row
    ut = tables.unlearning_table(exp, "classwise", methods=["Uniform"])
    assert ut["method"].tolist() == ["Original", "Uniform"]
    t1, _ = tables.attack_table(exp, "classwise", methods=["retrain", "Uniform"])
    row = t1.set_index("method").loc["Uniform"]
    assert 0 <= row["UA_8"] <= 100 and 0 <= row[f"relearn_{prof.relearn.steps[-1]}"] <= 100
    # and the verifier takes its model like anyone's, with the relearning line
    sd = exp.scenario("classwise")
    rep = verify(exp.original().model, built.model, sd.forget, retrained=exp.unlearned("classwise", "retrain").model,
                 retain=sd.retain, test=sd.test, steps=3, max_samples=24, relearn_steps=5,
                 progress=False)
    assert rep.relearn is not None and set(rep.relearn["unlearned"]) == {"0", "5"}
    assert "relearning probe (retain images only, 5 SGD steps" in verify_report.text(rep)


@requires_fmnist
def test_editing_the_plugin_changes_its_models_key(plugin):
    prof = config.load("smoke", plugins=("my_lab_uniform",), **{"methods+": "Uniform", **TINY})
    key = Experiment(prof).unlearned_key("classwise", "Uniform")
    plugin.write_text(plugin.read_text().replace("momentum=0.9", "momentum=0.5"))
    assert Experiment(prof).unlearned_key("classwise", "Uniform") != key
    provenance.clear()


def test_unknown_or_misplaced_methods_are_refused_before_compute(plugin):
    with pytest.raises(ValueError, match="unknown unlearning method 'Uniform'"):
        config.load("smoke", **{"methods+": "Uniform"})  # its module not named in plugins
    with pytest.raises(ValueError, match="plugins: cannot import 'my_lab_nothing'"):
        config.load("smoke", plugins=("my_lab_nothing",))
    with pytest.raises(ValueError, match="methods not already in the profile"):
        config.load("smoke", **{"methods+": "FT"})
    with pytest.raises(ValueError, match="unknown config field 'alpha' in FTConfig"):
        config.load("smoke", **{"methods.FT.alpha": 0.1})
    with pytest.raises(ValueError, match="take a forget hook"):
        config.load("smoke", **{"defense.adv_methods": ("FT",)})
    with pytest.raises(ValueError, match="includes 'retrain'"):
        prof = config.load("smoke")
        config.Profile(name="smoke", methods={k: v for k, v in prof.methods.items() if k != "retrain"})


def test_a_trivial_probe_lands_in_the_registry_the_stages_use():
    from umalib.experiments import discriminative
    from umalib import verify as verify_mod

    @register_probe("zero-delta", space="input", summary="returns the inputs unchanged")
    def zero_delta(original, unlearned, x):
        return unlearned(x)

    try:
        assert probe_spec("zero-delta").fn is zero_delta and "zero-delta" in PROBES
        # the stages and the verifier run probes through this very registry
        assert discriminative.run_probe is run_probe and verify_mod.run_probe is run_probe
        net = torch.nn.Linear(3, 2).train()
        assert run_probe("zero-delta", net, net, torch.zeros(1, 3)).shape == (1, 2)
        assert net.training  # the base restored the mode it found
        with pytest.raises(ValueError, match="already registered"):
            register_probe("zero-delta", space="input", summary="")(lambda o, u: None)
    finally:
        PROBES.pop("zero-delta", None)


def test_relearning_brings_forget_accuracy_back_on_a_suppressed_model():
    """A model whose forget class was suppressed only in its last layer's bias relearns it
    within a few steps; the unlearned model itself is never modified."""
    from umalib.attacks import relearn

    torch.manual_seed(0)  # the net's initialisation: the test must not depend on earlier tests
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 4, generator=g)
    y = (x[:, 0] > 0.5).long()
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    with torch.no_grad():
        net[2].bias[1] -= 20.0  # "unlearned": class 1 suppressed, its features intact
    before = {k: v.clone() for k, v in net.state_dict().items()}
    f, r = y == 1, y == 0
    res = relearn(None, net, x[f][:40], y[f][:40], x[r], y[r], x[f][40:60], y[f][40:60],
                  steps=(0, 5, 100), lr=0.5, batch_size=32, forget_per_batch=8)
    # (8 initialisations tried: 0 % before, 98-100 % after 100 steps)
    assert res.accuracy[0] == 0.0 and res.accuracy[100] > 90.0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    again = relearn(None, net, x[f][:40], y[f][:40], x[r], y[r], x[f][40:60], y[f][40:60],
                    steps=(0, 5, 100), lr=0.5, batch_size=32, forget_per_batch=8)
    assert again.accuracy == res.accuracy  # seeded
    with pytest.raises(ValueError, match="steps"):
        relearn(None, net, x, y, x, y, steps=(5, 0))
