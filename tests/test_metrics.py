import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from umalib import metrics as M
from umalib.metrics import generative as G


# ------------------------------------------------------------------ classifier outputs


class _TinyNet(nn.Module):
    def __init__(self, k: int = 3):
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.fc = nn.Linear(4, k)

    def forward(self, x):
        return self.fc(self.bn(x).flatten(1))


class _WithFeatures(_TinyNet):
    def features(self, x):
        return torch.tanh(self.bn(x).flatten(1))[:, :2] * 10.0


def test_accuracy_from_logits():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    labels = torch.tensor([0, 1, 1, 0])
    assert M.accuracy(logits, labels) == pytest.approx(50.0)
    assert M.accuracy(logits, torch.tensor([0, 1, 0, 1])) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="labels"):
        M.accuracy(logits, torch.tensor([0, 1]))


def test_predict_restores_mode_and_keeps_label_order():
    torch.manual_seed(0)
    net = _TinyNet()
    net.train()
    net.bn.eval()  # mixed modes must come back exactly as they were
    x = torch.rand(10, 1, 2, 2)
    y = torch.arange(10) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=3, shuffle=False)
    logits, labels = M.predict(net, loader)
    assert net.training and not net.bn.training and net.fc.training
    assert logits.shape == (10, 3) and logits.dtype == torch.float32 and logits.device.type == "cpu"
    assert torch.equal(labels, y)
    # eval mode was used: batch statistics are not updated and the result is batch-independent
    net.eval()
    ref = net(x)
    assert torch.allclose(logits, ref, atol=1e-6)
    net.train()
    logits_t, labels_t = M.predict(net, x, batch_size=4)
    assert labels_t is None and torch.allclose(logits_t, ref, atol=1e-6)
    assert net.training
    acc = M.accuracy(net, loader)
    assert acc == pytest.approx(100.0 * (ref.argmax(1) == y).float().mean().item())


def test_true_class_confidence():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    conf = M.true_class_confidence(logits, torch.tensor([1, 0]))
    assert conf.dtype == np.float64 and conf.shape == (2,)
    np.testing.assert_allclose(conf, [0.5, 0.75], atol=1e-12)


# ------------------------------------------------------------------ MIA


def _logits_with_confidence(conf: np.ndarray, labels: np.ndarray, k: int = 10) -> torch.Tensor:
    # two-level logits: true class gets probability conf, the rest share 1 - conf equally
    conf = np.clip(conf, 1e-6, 1 - 1e-9)
    other = (1 - conf) / (k - 1)
    logits = np.tile(np.log(other)[:, None], (1, k))
    logits[np.arange(len(labels)), labels] = np.log(conf)
    return torch.tensor(logits, dtype=torch.float32)


def test_mia_member_rate_separates_and_complements_efficacy():
    rng = np.random.default_rng(0)
    n = 300
    y_in, y_out = rng.integers(0, 10, n), rng.integers(0, 10, n)
    member = _logits_with_confidence(1 - rng.uniform(0, 1e-3, n), y_in)
    nonmember = _logits_with_confidence(rng.uniform(0.05, 0.7, n), y_out)
    att = M.MIAAttacker.fit(member, torch.tensor(y_in), nonmember, torch.tensor(y_out))
    assert att.svc.C == 3 and att.svc.gamma == "auto" and att.svc.kernel == "rbf"

    y_t = rng.integers(0, 10, 200)
    member_like = _logits_with_confidence(1 - rng.uniform(0, 1e-3, 200), y_t)
    nonmember_like = _logits_with_confidence(rng.uniform(0.05, 0.7, 200), y_t)
    hi = att.member_rate(member_like, torch.tensor(y_t))
    lo = att.member_rate(nonmember_like, torch.tensor(y_t))
    assert hi > 0.9 and lo < 0.1
    for lg in (member_like, nonmember_like):
        assert att.member_rate(lg, torch.tensor(y_t)) + att.efficacy(lg, torch.tensor(y_t)) == pytest.approx(1.0)
    # member_rate is the share of predict_member == True
    pm = att.predict_member(nonmember_like, torch.tensor(y_t))
    assert pm.dtype == bool and pm.mean() == pytest.approx(lo)


def test_ua_mia_is_accuracy_and_member_rate_under_suffixed_keys():
    rng = np.random.default_rng(1)
    y_in, y_out = rng.integers(0, 10, 200), rng.integers(0, 10, 200)
    att = M.MIAAttacker.fit(_logits_with_confidence(1 - rng.uniform(0, 1e-3, 200), y_in), torch.tensor(y_in),
                            _logits_with_confidence(rng.uniform(0.05, 0.7, 200), y_out), torch.tensor(y_out))
    y = torch.tensor(rng.integers(0, 10, 50))
    logits = _logits_with_confidence(np.r_[np.full(30, 0.999), np.full(20, 0.05)], y.numpy())
    out = M.ua_mia(logits, y, att, "_8")
    assert set(out) == {"UA_8", "MIA_8"}
    assert out["UA_8"] == pytest.approx(60.0)  # the 20 low-confidence rows are argmax-wrong
    assert out["MIA_8"] == pytest.approx(att.member_rate(logits, y))
    assert set(M.ua_mia(logits, y, att)) == {"UA", "MIA"}


def test_mia_member_rate_convenience_with_logits_target():
    torch.manual_seed(0)
    net = _TinyNet(k=2)
    with torch.no_grad():
        net.fc.weight.zero_()
        net.fc.weight[0, 0] = 8.0  # class-0 confidence = sigmoid(8 * x[0] - 2)
        net.fc.bias.copy_(torch.tensor([-2.0, 0.0]))
    x_in = torch.rand(100, 1, 2, 2)
    x_in[:, 0, 0, 0] = 0.8 + 0.2 * torch.rand(100)  # confidence 0.988..0.998
    x_out = torch.rand(100, 1, 2, 2)
    x_out[:, 0, 0, 0] = 0.3 * torch.rand(100)  # confidence 0.12..0.6
    y = torch.zeros(100, dtype=torch.long)
    ld = lambda xs: DataLoader(TensorDataset(xs, y), batch_size=64)
    rate_in = M.mia_member_rate(net, ld(x_in), ld(x_out), ld(x_in))
    logits, labels = M.predict(net, ld(x_out))
    rate_out = M.mia_member_rate(net, ld(x_in), ld(x_out), (logits, labels))
    assert rate_in > 0.8 and rate_out < 0.2


# ------------------------------------------------------------------ FID


def test_frechet_distance_closed_form_diagonal_and_symmetric():
    rng = np.random.default_rng(1)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = M.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, abs=1e-6)
    # symmetric, with full (non-diagonal) covariances too
    a = rng.normal(size=(d, d))
    b = rng.normal(size=(d, d))
    c1, c2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    assert M.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(M.frechet_distance(mu2, c2, mu1, c1), abs=1e-8)
    assert M.frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-8)
    # torch inputs work and shapes are validated
    assert M.frechet_distance(torch.tensor(mu1), torch.tensor(c1), mu2, c2) == pytest.approx(
        M.frechet_distance(mu1, c1, mu2, c2)
    )
    with pytest.raises(ValueError, match="sigma"):
        M.frechet_distance(mu1, c1[:3, :3], mu2, c2)


def test_frechet_distance_singular_covariance_is_finite():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(5, 20))  # fewer samples than dimensions: singular covariance
    g = rng.normal(size=(5, 20)) + 1.0
    val = M.fid_from_features(f, g)
    assert np.isfinite(val)


def test_fid_same_gaussian_near_zero_and_identity_feature_fn():
    rng = np.random.default_rng(3)
    d = 8
    a = rng.normal(size=(4000, d))
    b = rng.normal(size=(4000, d))
    shifted = rng.normal(size=(4000, d)) + 1.0  # true FID = d = 8
    same = M.fid_from_features(a, b)
    diff = M.fid_from_features(a, shifted)
    assert diff == pytest.approx(d, rel=0.1)
    assert same < 0.02 * diff

    imgs_a = torch.rand(50, 1, 2, 3)
    imgs_b = torch.rand(40, 1, 2, 3) * 0.5
    flat = lambda x: x.flatten(1)
    expected = M.fid_from_features(imgs_a.flatten(1), imgs_b.flatten(1))
    assert M.fid(imgs_a, imgs_b, flat, batch_size=7) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    loader = DataLoader(TensorDataset(imgs_b, torch.zeros(40)), batch_size=16)
    assert M.fid(imgs_a, loader, flat) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_classifier_features_uses_features_or_softmax():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 2, 2)
    plain, withf = _TinyNet(k=4), _WithFeatures(k=4)
    plain.train()
    withf.train()
    p = M.classifier_features(plain)(x)
    assert p.shape == (5, 4) and torch.allclose(p.sum(1), torch.ones(5), atol=1e-6)
    f = M.classifier_features(withf)(x)
    assert f.shape == (5, 2) and not torch.allclose(f.sum(1), torch.ones(5))
    assert plain.training and withf.training


# ------------------------------------------------------------------ IS, L1, Inception loader


def test_inception_score_bounds_and_splits():
    k = 7
    uniform = np.full((70, k), 1.0 / k)
    mean, std = M.inception_score(uniform)
    assert mean == pytest.approx(1.0, abs=1e-9) and std == 0.0
    confident = np.eye(k)[np.arange(70) % k]
    mean, std = M.inception_score(torch.tensor(confident), splits=1)
    assert mean == pytest.approx(k, abs=1e-4)
    # splits: balanced chunks score k, an unbalanced chunk scores less -> non-zero std
    probs = np.concatenate([np.eye(k)[np.arange(35) % k], np.eye(k)[np.zeros(35, dtype=int)]])
    mean, std = M.inception_score(probs, splits=2)
    assert mean == pytest.approx((k + 1) / 2, abs=1e-4) and std == pytest.approx((k - 1) / 2, abs=1e-4)
    with pytest.raises(ValueError, match="probs"):
        M.inception_score(np.random.default_rng(0).normal(size=(10, 3)))


def test_l1_distance_known_values():
    a = torch.zeros(1, 1, 2, 2)
    b = torch.ones(1, 1, 2, 2)
    per_image, per_value = M.l1_distance(a, b)
    assert per_image == pytest.approx(4 * 255) and per_value == pytest.approx(255)
    a2 = torch.zeros(2, 3, 2, 2)
    b2 = torch.zeros(2, 3, 2, 2)
    b2[0] = 0.5  # image 0 differs by 127.5 on 12 values, image 1 identical
    per_image, per_value = M.l1_distance(a2, b2)
    assert per_image == pytest.approx(12 * 127.5 / 2) and per_value == pytest.approx(127.5 / 2)
    with pytest.raises(ValueError, match="shape"):
        M.l1_distance(a, a2)


def test_inception_feature_fn_missing_file_returns_none(tmp_path):
    assert M.inception_feature_fn(tmp_path / "nope" / "default_1.pt") is None


def test_tf_bilinear_resize_matches_legacy_sampling():
    # TF1 resize_bilinear: output index i samples input coordinate i * in / out (clamped)
    x = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 2, 4).contiguous()
    out = G._resize_tf_bilinear(x, 8)
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3], atol=1e-6)
    same = torch.rand(1, 3, 299, 299)
    assert torch.equal(G._resize_tf_bilinear(same, 299), same)


def test_frechet_distance_retries_with_eps_when_sqrtm_not_finite(monkeypatch):
    real_sqrtm = G.scipy.linalg.sqrtm
    calls = []

    def flaky_sqrtm(a):
        calls.append(a.copy())
        if len(calls) == 1:
            return np.full_like(a, np.nan)
        return real_sqrtm(a)

    monkeypatch.setattr(G.scipy.linalg, "sqrtm", flaky_sqrtm)
    s = np.diag([1.0, 4.0])
    val = M.frechet_distance(np.zeros(2), s, np.ones(2), s, eps=1e-6)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (s + 1e-6 * np.eye(2)) @ (s + 1e-6 * np.eye(2)))
    assert val == pytest.approx(2.0, abs=1e-5)
