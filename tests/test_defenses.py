"""Defences against UMA: adversarial unlearning (Eq. 6) and VAE purification (Tables 5-6)."""

from __future__ import annotations

import importlib

import pytest
import torch

from umalib.attacks.uma import uma_loss
from umalib import config
from umalib.config import DefenseConfig
from umalib.unlearn import RLConfig
from umalib.data import BatchLoader
from umalib.defenses import (ConvVAE, Purified, UMAHook, adversarial_unlearning, attack_aware,
                             attack_unaware, train_vae)
from umalib.defenses import purifier as pur_mod
from umalib.models import build_model
from umalib.unlearn import unlearn
from umalib.unlearn._loop import mixed_batches
from umalib.unlearn.rl import random_labels

# the package re-exports the function under the module's name
adv_mod = importlib.import_module("umalib.defenses.adversarial_unlearning")
K, SIZE = 3, 12


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("cnn", in_channels=1, num_classes=K, image_size=SIZE, mean=(0.5,),
                       std=(0.25,), width=4).eval()


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, SIZE, SIZE, generator=g), torch.randint(0, K, (n,), generator=g)


def _loaders(bs: int) -> tuple[BatchLoader, BatchLoader]:
    (xr, yr), (xf, yf) = _data(40, 1), _data(12, 2)
    return BatchLoader(xr, yr, bs), BatchLoader(xf, yf, bs)


CFG = RLConfig(epochs=2, lr=0.05, batch_size=16)
DEF = DefenseConfig(adv_eps=8 / 255, adv_step_size=3 / 255, adv_steps=2)


def test_inner_attack_runs_on_every_forget_step_within_eps(monkeypatch):
    retain, forget = _loaders(CFG.batch_size)
    expected = sum(bool(f.any()) for e in range(CFG.epochs)
                   for _, _, f in mixed_batches(retain, forget, CFG.batch_size, 0, e, random_labels(K)))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = adv_mod.uma

    def spy(original, unlearned, x, **kw):
        assert kw["eps"] == DEF.adv_eps and kw["steps"] == DEF.adv_steps
        res = real(original, unlearned, x, **kw)
        seen.append((x.clone(), res.x_adv.clone()))
        return res

    monkeypatch.setattr(adv_mod, "uma", spy)
    model, info = adversarial_unlearning("RL", _model(), retain, forget, CFG, DEF, seed=0,
                                         progress=False)
    assert expected > CFG.epochs  # several forget-bearing batches per epoch
    assert info["hook_calls"] == len(seen) == expected
    assert info["inner_images"] == CFG.epochs * forget.num_samples
    assert sum(len(x) for x, _ in seen) == info["inner_images"]
    assert 0 < info["inner_seconds"] <= info["seconds"]
    moved = 0.0
    for x, xa in seen:
        assert xa.shape == x.shape
        assert float((xa - x).abs().max()) <= DEF.adv_eps + 1e-6
        assert float(xa.min()) >= 0 and float(xa.max()) <= 1
        moved = max(moved, float((xa - x).abs().max()))
    assert moved > 0  # the inner attack actually perturbs
    assert not model.training


def test_robust_term_changes_the_update_and_weight_zero_does_not():
    retain, forget = _loaders(CFG.batch_size)
    orig = _model()
    plain = unlearn("RL", orig, retain, forget, CFG, seed=0, progress=False)
    zero, _ = adversarial_unlearning("RL", orig, retain, forget, CFG,
                                     DefenseConfig(adv_steps=1, adv_weight=0.0), seed=0, progress=False)
    adv, _ = adversarial_unlearning("RL", orig, retain, forget, CFG, DEF, seed=0, progress=False)
    # parameters only: the weight-0 term's forward still updates BatchNorm running statistics
    p, z, a = (torch.cat([t.detach().flatten() for t in m.parameters()]) for m in (plain, zero, adv))
    assert torch.allclose(p, z, atol=1e-6)
    assert not torch.allclose(p, a, atol=1e-4)
    # the original is never modified
    assert torch.equal(torch.cat([t.flatten() for t in orig.state_dict().values()]).float(),
                       torch.cat([t.flatten() for t in _model().state_dict().values()]).float())


def test_hook_counts_and_keeps_device_and_shape():
    orig, cur = _model(0), _model(1)
    hook = UMAHook(orig, eps=4 / 255, step_size=2 / 255, steps=3)
    x, y = _data(5, 3)
    out = hook(cur.train(), x, y)
    hook(cur, x[:2], y[:2])
    assert out.shape == x.shape and out.device == x.device
    assert (hook.calls, hook.images) == (2, 7) and hook.seconds > 0
    assert float((out - x).abs().max()) <= 4 / 255 + 1e-6


@pytest.mark.parametrize("method", ["FT", "retrain", "IU", "nope"])
def test_adversarial_unlearning_needs_a_forget_set_method(method):
    retain, forget = _loaders(8)
    with pytest.raises(ValueError, match="RL.*GA.*SalUn"):
        adversarial_unlearning(method, _model(), retain, forget, CFG, DEF, progress=False)


def test_purified_output_shape_and_features():
    vae = ConvVAE(1, SIZE, latent=4, width=4).eval()
    clf = _model()
    pur = Purified(vae, clf)
    x = torch.rand(6, 1, SIZE, SIZE)
    assert pur(x).shape == (6, K)
    assert torch.allclose(pur(x), clf(vae.reconstruct(x)))
    assert pur.features(x).shape == clf.features(x).shape
    assert not hasattr(Purified(vae, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(SIZE * SIZE, K))),
                       "features")
    assert torch.equal(vae.reconstruct(x), vae.reconstruct(x))  # posterior mean: deterministic
    big = ConvVAE(3, 32, latent=8, width=8)
    assert big.reconstruct(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvVAE(1, 30)


def test_vae_loss_falls():
    g = torch.Generator().manual_seed(0)
    protos = (torch.rand(4, 1, SIZE, SIZE, generator=g) > 0.5).float()
    x = (protos[torch.arange(96) % 4] * 0.9 + 0.1 * torch.rand(96, 1, SIZE, SIZE, generator=g))
    cfg = DefenseConfig(vae_latent=4, vae_width=8, vae_epochs=5, vae_lr=1e-2, vae_batch_size=16)
    vae, losses = train_vae(x, cfg, seed=0, progress=False)
    assert len(losses) == 5 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0] and losses[-1] == min(losses)
    assert not vae.training


def test_aware_attack_gradient_flows_through_the_vae():
    vae, clf, orig = ConvVAE(1, SIZE, latent=4, width=4).eval(), _model(1), _model(0)
    x = torch.rand(4, 1, SIZE, SIZE, requires_grad=True)
    loss = uma_loss(Purified(vae, clf)(x), orig(x).detach(), "kl").sum()
    (g,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(g).all() and float(g.abs().sum()) > 0
    res = attack_aware(orig, clf, vae, x.detach(), eps=8 / 255, step_size=2 / 255, steps=3,
                       progress=False)
    assert float((res.x_adv - x.detach()).abs().max()) <= 8 / 255 + 1e-6
    assert torch.allclose(res.outputs, Purified(vae, clf)(res.x_adv), atol=1e-5)
    assert res.threat == "aware"


class _TrippingVAE(ConvVAE):
    """Raises if reconstruct runs while ``armed``; counts calls otherwise."""

    armed = False
    calls = 0

    def reconstruct(self, x):
        if self.armed:
            raise AssertionError("the unaware attack queried the VAE")
        self.calls += 1
        return super().reconstruct(x)


def test_unaware_attack_never_calls_the_vae(monkeypatch):
    vae, clf, orig = _TrippingVAE(1, SIZE, latent=4, width=4).eval(), _model(1), _model(0)
    real = pur_mod.uma
    ran = []

    def armed_uma(*a, **kw):
        vae.armed = True
        try:
            ran.append(1)
            return real(*a, **kw)
        finally:
            vae.armed = False

    monkeypatch.setattr(pur_mod, "uma", armed_uma)
    x = torch.rand(5, 1, SIZE, SIZE)
    res = attack_unaware(orig, clf, vae, x, eps=8 / 255, step_size=2 / 255, steps=3, progress=False)
    assert ran == [1] and vae.calls >= 1  # attack ran once without the VAE; scoring used it
    assert float((res.x_adv - x).abs().max()) <= 8 / 255 + 1e-6
    with torch.no_grad():
        assert torch.allclose(res.outputs, clf(vae.reconstruct(res.x_adv)), atol=1e-5)
    # with a given x_adv (notebook 02's cached attack) no attack runs at all
    monkeypatch.setattr(pur_mod, "uma", lambda *a, **k: pytest.fail("attack ran"))
    again = attack_unaware(orig, clf, vae, x, eps=8 / 255, x_adv=res.x_adv)
    assert torch.allclose(again.outputs, res.outputs)


def test_defense_config_validation():
    with pytest.raises(ValueError, match="defense.adv_init"):
        DefenseConfig(adv_init="gauss")
    with pytest.raises(ValueError, match="defense.adv_methods.*forget hook"):
        config.load("smoke", **{"defense.adv_methods": ("FT",)})  # FT never reads the forget set
    with pytest.raises(ValueError, match="defense.vae_train_subset"):
        DefenseConfig(vae_train_subset=0)
