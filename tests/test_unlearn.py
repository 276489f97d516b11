"""Unlearning methods on a tiny real setup (600 Fashion-MNIST images, a width-4 CNN)."""

import copy
import dataclasses

import pytest
import torch

from umalib import config
from umalib.config import MethodConfig
from umalib.data import BatchLoader
from umalib.metrics import accuracy
from umalib.experiments import Experiment
from umalib.unlearn import UNLEARNING_METHODS, get_method, unlearn
import importlib

retrain_mod = importlib.import_module("umalib.unlearn.retrain")
from umalib.unlearn.l1_sparse import l1_norm
from umalib.unlearn.salun import saliency_mask

from conftest import requires_fmnist

pytestmark = requires_fmnist


@pytest.fixture(scope="module")
def setup():
    prof = config.load("smoke", **{"data.train_subset": 600, "data.test_subset": 300, "model.width": 4,
                                   "train.epochs": 6, "train.batch_size": 64, "train.lr": 0.05,
                                   "mia_shadow_max": 200})
    exp = Experiment(prof, progress=False)
    orig = exp.original().model
    sd = exp.scenario("classwise")
    return exp, orig, sd


def loaders(sd, bs=64):
    return sd.loader("retain", bs), sd.loader("forget", bs)


class Exploding(BatchLoader):
    def __iter__(self):
        raise AssertionError("retrain touched the forget set")


def test_unknown_method_lists_known():
    with pytest.raises(ValueError, match="known: .*retrain.*SalUn"):
        get_method("SCRUB")


@pytest.mark.parametrize("name", list(UNLEARNING_METHODS))
def test_every_method_returns_new_model_and_keeps_original(setup, name):
    exp, orig, sd = setup
    before = copy.deepcopy(orig.state_dict())
    r, f = loaders(sd)
    cfg = MethodConfig(epochs=1, lr=0.01, alpha=1.0 if name == "IU" else 1e-4, samples=32, batch_size=64)
    model = unlearn(name, orig, r, f, cfg, seed=0, progress=False, recipe=exp.profile.train)
    assert model is not orig
    assert all(torch.equal(before[k], v) for k, v in orig.state_dict().items())
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_retrain_never_sees_a_forget_index(setup, monkeypatch):
    exp, orig, sd = setup
    seen = []
    real = retrain_mod.train_classifier

    def spy(model, loader, *a, **k):
        seen.append(loader)
        return real(model, loader, *a, **k)

    monkeypatch.setattr(retrain_mod, "train_classifier", spy)
    r, f = loaders(sd)
    bomb = Exploding(f.x, f.y, 64)
    model = unlearn("retrain", orig, r, bomb, MethodConfig(epochs=1, lr=0.05, batch_size=64), seed=0,
                    progress=False, recipe=exp.profile.train)
    (loader,) = seen
    forget_rows = {bytes(x) for x in sd.forget[0].flatten(1).numpy()}
    assert not any(bytes(x) in forget_rows for x in loader.x.flatten(1).numpy())
    assert len(loader.y) == len(sd.scenario.retain_idx)
    # fresh weights: nothing copied from the original
    assert not torch.equal(model.fc.weight, orig.fc.weight)


def test_salun_mask_share_and_frozen_weights(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    mask = saliency_mask(orig, f, 0.3)
    total = sum(m.numel() for m in mask.values())
    kept = sum(int(m.sum()) for m in mask.values())
    assert kept == round(0.3 * total)
    model = unlearn("SalUn", orig, r, f, MethodConfig(epochs=1, lr=0.05, mask_ratio=0.3, batch_size=64),
                    seed=0, progress=False)
    o, u = dict(orig.named_parameters()), dict(model.named_parameters())
    changed = 0
    for n, m in mask.items():
        assert torch.equal(u[n][~m], o[n][~m]), n  # bit-identical outside the mask
        changed += int((u[n][m] != o[n][m]).sum())
    assert changed > 0.5 * kept


def test_iu_changes_weights_and_lowers_forget_accuracy(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    model = unlearn("IU", orig, r, f, MethodConfig(alpha=20.0, samples=200), seed=0, progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), orig.parameters()))
    assert accuracy(model, f) < accuracy(orig, f)


def test_l1_sparse_lowers_l1_norm(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    model = unlearn("l1-sparse", orig, r, f, MethodConfig(epochs=2, lr=0.01, alpha=5e-3, batch_size=64),
                    seed=0, progress=False)
    with torch.no_grad():
        assert float(l1_norm(model)) < float(l1_norm(orig))


def test_ga_and_rl_lower_forget_accuracy(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    for name, cfg in (("GA", MethodConfig(epochs=2, lr=1e-2, batch_size=64)),
                      ("RL", MethodConfig(epochs=2, lr=0.05, batch_size=64))):
        assert accuracy(unlearn(name, orig, r, f, cfg, seed=0, progress=False), f) < accuracy(orig, f)


def test_mia_scores_original_above_retrained(setup):
    exp, orig, sd = setup
    ev_o = exp.evaluation("classwise", "Original")
    ev_r = exp.evaluation("classwise", "retrain")
    assert ev_o["MIA"] > ev_r["MIA"]
    assert ev_o["UA"] > ev_r["UA"]
