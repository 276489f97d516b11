"""Unlearning methods on a tiny real setup (600 Fashion-MNIST images, a width-4 CNN)."""

import copy
import dataclasses

import pytest
import torch

from umalib import config
from umalib.data import BatchLoader
from umalib.metrics import accuracy
from umalib.experiments import Experiment
from umalib.unlearn import (METHOD_REGISTRY, GAConfig, IUConfig, L1SparseConfig, NegGradPlusConfig,
                            RetrainConfig, RLConfig, SalUnConfig, SCRUBConfig, get_method, unlearn)
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
    with pytest.raises(ValueError, match="known: .*retrain.*SalUn.*SCRUB"):
        get_method("Erase-Everything")


def test_a_method_refuses_another_methods_config(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    with pytest.raises(ValueError, match="SalUn: cfg must be a SalUnConfig, got RLConfig"):
        unlearn("SalUn", orig, r, f, RLConfig(epochs=1))


@pytest.mark.parametrize("name", list(METHOD_REGISTRY))
def test_every_method_returns_new_model_and_keeps_original(setup, name):
    exp, orig, sd = setup
    before = copy.deepcopy(orig.state_dict())
    r, f = loaders(sd)
    spec = METHOD_REGISTRY[name]
    extra = {"alpha": 1.0, "samples": 32} if name == "IU" else {}
    cfg = spec.config(epochs=1, lr=0.01, batch_size=64, **extra)
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
    model = unlearn("retrain", orig, r, bomb, RetrainConfig(epochs=1, lr=0.05, batch_size=64), seed=0,
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
    model = unlearn("SalUn", orig, r, f, SalUnConfig(epochs=1, lr=0.05, mask_ratio=0.3, batch_size=64),
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
    model = unlearn("IU", orig, r, f, IUConfig(alpha=20.0, samples=200), seed=0, progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), orig.parameters()))
    assert accuracy(model, f) < accuracy(orig, f)


def test_l1_sparse_lowers_l1_norm(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    model = unlearn("l1-sparse", orig, r, f, L1SparseConfig(epochs=2, lr=0.01, alpha=5e-3, batch_size=64),
                    seed=0, progress=False)
    with torch.no_grad():
        assert float(l1_norm(model)) < float(l1_norm(orig))


def test_ga_and_rl_lower_forget_accuracy(setup):
    exp, orig, sd = setup
    r, f = loaders(sd)
    for name, cfg in (("GA", GAConfig(epochs=2, lr=1e-2, batch_size=64)),
                      ("RL", RLConfig(epochs=2, lr=0.05, batch_size=64)),
                      ("NegGrad+", NegGradPlusConfig(epochs=2, lr=0.02, beta=0.9, batch_size=64)),
                      ("SCRUB", SCRUBConfig(epochs=2, msteps=2, lr=0.01, batch_size=64,
                                            forget_batch_size=16))):
        assert accuracy(unlearn(name, orig, r, f, cfg, seed=0, progress=False), f) < accuracy(orig, f)


def test_mia_scores_original_above_retrained(setup):
    exp, orig, sd = setup
    ev_o = exp.evaluation("classwise", "Original")
    ev_r = exp.evaluation("classwise", "retrain")
    assert ev_o["MIA"] > ev_r["MIA"]
    assert ev_o["UA"] > ev_r["UA"]


def test_scrub_max_step_moves_away_from_the_teacher_and_min_step_back(setup):
    """SCRUB's two steps: max-only epochs raise the student-teacher KL on the forget set; the
    min epochs that follow keep the retain set close to the teacher."""
    from umalib.unlearn.scrub import distill_kl

    exp, orig, sd = setup
    r, f = loaders(sd)
    fx, rx = f.x[:64].float() / 255, r.x[:256].float() / 255

    def kl(model, x):
        with torch.no_grad():
            return float(distill_kl(model(x), orig(x), 4.0))

    cfg = SCRUBConfig(epochs=1, msteps=1, lr=0.01, gamma=0.0, alpha=0.0, batch_size=64,
                      forget_batch_size=16)  # one max pass, a min pass with zero loss
    away = unlearn("SCRUB", orig, r, f, cfg, seed=0, progress=False)
    assert kl(away, fx) > kl(orig, fx) + 1e-3
    both = unlearn("SCRUB", orig, r, f, dataclasses.replace(cfg, gamma=0.99, alpha=1.0, epochs=3),
                   seed=0, progress=False)
    assert kl(both, rx) < kl(away, rx)


def test_neggrad_plus_at_beta_one_is_fine_tuning_only(setup):
    """beta = 1 gives the forget term weight 0: the forget set must not change the result."""
    exp, orig, sd = setup
    r, f = loaders(sd)
    cfg = NegGradPlusConfig(epochs=1, lr=0.05, beta=1.0, batch_size=64, forget_batch_size=16)
    a = unlearn("NegGrad+", orig, r, f, cfg, seed=0, progress=False)
    shuffled = BatchLoader(f.x.flip(0), f.y.flip(0), 16)
    b = unlearn("NegGrad+", orig, r, shuffled, cfg, seed=0, progress=False)
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))
    ascent = unlearn("NegGrad+", orig, r, f, dataclasses.replace(cfg, beta=0.0), seed=0,
                     progress=False)
    assert accuracy(ascent, f) < accuracy(orig, f)


def test_evaluation_fits_the_mia_that_the_shadow_sets_give(setup):
    """evaluate_with_attacker fits its MIA on slices of the retain and test passes; that must be
    the attacker mia_attacker fits on the shadow sets themselves (the first N of each)."""
    import numpy as np

    from umalib.metrics import predict

    exp, orig, _ = setup
    for kind in ("classwise", "instancewise"):
        out, mia = exp.evaluate_with_attacker(orig, kind)
        ref = exp.mia_attacker(orig, kind)
        assert np.allclose(mia.svc.support_vectors_, ref.svc.support_vectors_, rtol=0, atol=1e-6)
        assert np.allclose(mia.svc.dual_coef_, ref.svc.dual_coef_, rtol=0, atol=1e-4)
        forget = predict(orig, exp.scenario(kind).loader("forget", 1000))
        assert out["MIA"] == mia.member_rate(*forget) == ref.member_rate(*forget)
