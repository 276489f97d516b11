"""Tests for umalib.attacks.uma (Unlearning Mapping Attack). Tiny models, CPU, fast."""

import math

import pytest
import torch
from torch import nn

from umalib.attacks import INITS, LOSSES, PROBES, UMAResult, parse_eps, probe_spec, run_probe, uma

EPS = 8 / 255
STEP = 1 / 255


def tiny_cnn(seed: int, classes: int = 5) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, classes)
    )


class TinyAutoencoder(nn.Module):
    """Image-to-image model with a sigmoid output, stands in for a generative model."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny tensors: with 2+ threads on a shared 2-core box, thread hand-offs dominate (10x slower).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pair():
    return tiny_cnn(0), tiny_cnn(1)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(123)
    x = torch.rand(12, 1, 6, 6, generator=g)
    # Pixels sitting exactly on the [0, 1] edges, where the box binds before the ball.
    x[0] = 0.0
    x[1] = 1.0
    x[2, :, :3] = 0.0
    x[2, :, 3:] = 1.0
    return x


def check_feasible(res: UMAResult, x: torch.Tensor, eps: float | None) -> None:
    assert res.x_adv.shape == x.shape
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    assert torch.equal(res.delta, res.x_adv - x)
    if eps is not None:
        # Exact: the difference as computed in float32, compared in float64 with the Python eps.
        assert (res.x_adv - x).abs().max().item() <= eps
        assert (res.x_adv.double() - x.double()).abs().max().item() <= eps + 1e-7


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("init", INITS)
def test_stays_in_eps_ball_and_box(pair, images, loss, init):
    f, fu = pair
    res = uma(f, fu, images, eps=EPS, step_size=3 / 255, steps=6, loss=loss, init=init,
              keep_best=False, progress=False)
    check_feasible(res, images, EPS)
    # The attack actually moves (otherwise the check above would be vacuous).
    assert res.delta.abs().max() > 0
    # Large step relative to eps: the ball is hit, so bound pixels reach exactly |delta| = eps.
    assert (res.delta.abs() >= EPS - 1e-6).any()


@pytest.mark.parametrize("eps", [1 / 255, 16 / 255, 0.3, 1.0, None])
def test_feasible_for_other_budgets(pair, images, eps):
    f, fu = pair
    res = uma(f, fu, images, eps=eps, step_size=4 / 255, steps=4, init="uniform", restarts=2,
              momentum=0.9, progress=False)
    check_feasible(res, images, eps)


def test_generative_task_feasible_and_no_agrees(images):
    f, fu = TinyAutoencoder(0), TinyAutoencoder(1)
    for loss in ("mse", "bce"):
        res = uma(f, fu, images, eps=None, steps=5, loss=loss, task="generative", progress=False)
        check_feasible(res, images, None)
        assert res.agrees is None and res.correct is None
        assert res.outputs.shape == images.shape
        assert res.loss_history[-1] <= res.loss_history[0]


@pytest.mark.parametrize("loss", ["kl", "mse"])
def test_model_against_itself_is_fixed_point(pair, images, loss):
    f, _ = pair
    labels = torch.arange(len(images)) % 5
    for keep_best in (True, False):
        res = uma(f, f, images, labels=labels, steps=10, loss=loss, keep_best=keep_best, progress=False)
        assert res.agrees.all()
        assert torch.equal(res.delta, torch.zeros_like(images))  # sign(0) = 0: never moves
        assert res.loss.abs().max() < 1e-6
        assert torch.allclose(res.outputs, res.target)
        assert torch.equal(res.correct, res.target.argmax(1) == labels)


def test_recovers_known_optimum_of_linear_model():
    torch.manual_seed(0)
    d = 10
    w = torch.diag(torch.linspace(0.5, 2.0, d))
    x = 0.2 + 0.6 * torch.rand(32, d)
    d_star = (torch.rand(32, d) * 2 - 1) * EPS
    d_star[:, 0] = EPS  # optimum on the boundary of the ball
    d_star[:, 1] = -EPS
    unlearned = lambda z: z @ w  # noqa: E731  (plain callables are accepted too)
    original = lambda z: (z + d_star) @ w  # noqa: E731  so original(x) = unlearned(x + d*)
    res = uma(original, unlearned, x, eps=EPS, step_size=STEP, steps=30, loss="mse", progress=False)
    assert (res.delta - d_star).abs().max() <= STEP + 1e-6
    assert res.loss_history[-1] < 0.05 * res.loss_history[0]
    # Smaller steps get closer.
    fine = uma(original, unlearned, x, eps=EPS, step_size=STEP / 8, steps=100, loss="mse", progress=False)
    assert (fine.delta - d_star).abs().max() <= STEP / 8 + 1e-6


def test_unbounded_beats_binding_ball():
    torch.manual_seed(1)
    w = torch.eye(6)
    x = 0.3 + 0.4 * torch.rand(16, 6)
    shift = 0.2  # far outside an 8/255 ball, inside [0, 1]
    unlearned = lambda z: z @ w  # noqa: E731
    original = lambda z: (z + shift) @ w  # noqa: E731
    bounded = uma(original, unlearned, x, eps=EPS, steps=80, loss="mse", progress=False)
    free = uma(original, unlearned, x, eps=None, steps=80, loss="mse", progress=False)
    assert free.loss.mean() < 0.1 * bounded.loss.mean()
    assert free.delta.abs().max() > EPS
    check_feasible(free, x, None)


def test_more_steps_never_worse(pair, images):
    f, fu = pair
    means = [uma(f, fu, images, steps=s, step_size=2 / 255, progress=False).loss.mean().item()
             for s in (0, 5, 10, 20, 40)]
    assert all(b <= a for a, b in zip(means, means[1:])), means
    assert means[-1] < means[0]
    res = uma(f, fu, images, steps=40, step_size=2 / 255, progress=False)
    assert res.loss_history.shape == (41,)
    assert (res.loss_history[1:] <= res.loss_history[:-1]).all()
    assert math.isclose(res.loss_history[-1].item(), res.loss.mean().item(), rel_tol=1e-5)


def test_keep_best_at_least_as_strong_as_last(pair, images):
    f, fu = pair
    best = uma(f, fu, images, steps=15, step_size=4 / 255, progress=False)
    last = uma(f, fu, images, steps=15, step_size=4 / 255, keep_best=False, progress=False)
    assert (best.loss <= last.loss + 1e-7).all()


def test_restarts_never_worse_per_sample(pair, images):
    f, fu = pair
    for init in INITS:
        one = uma(f, fu, images, steps=8, init=init, progress=False)
        three = uma(f, fu, images, steps=8, init=init, restarts=3, progress=False)
        assert (three.loss <= one.loss).all()
        check_feasible(three, images, EPS)


def test_seeded_runs_repeat(pair, images):
    f, fu = pair
    a = uma(f, fu, images, steps=5, init="uniform", restarts=2, seed=7, progress=False)
    b = uma(f, fu, images, steps=5, init="uniform", restarts=2, seed=7, progress=False)
    c = uma(f, fu, images, steps=5, init="uniform", restarts=2, seed=8, progress=False)
    assert torch.equal(a.x_adv, b.x_adv)
    assert not torch.equal(a.x_adv, c.x_adv)


@pytest.mark.parametrize("keep_best", [True, False])
def test_record_steps_match_separate_runs(pair, images, keep_best):
    f, fu = pair
    kw = dict(step_size=3 / 255, keep_best=keep_best, batch_size=5, progress=False)
    full = uma(f, fu, images, steps=12, record_steps=[0, 3, 7, 12], **kw)
    assert sorted(full.recorded) == [0, 3, 7, 12]
    for t in (0, 3, 7, 12):
        alone = uma(f, fu, images, steps=t, **kw)
        assert torch.allclose(full.recorded[t], alone.outputs, atol=1e-6)
        assert math.isclose(full.loss_history[t].item(), alone.loss.mean().item(), rel_tol=1e-5, abs_tol=1e-7)
    assert torch.allclose(full.recorded[12], full.outputs)


def test_record_steps_with_restarts_match_separate_runs(pair, images):
    f, fu = pair
    full = uma(f, fu, images, steps=6, restarts=2, record_steps=[2, 6], progress=False)
    for t in (2, 6):
        alone = uma(f, fu, images, steps=t, restarts=2, progress=False)
        assert torch.allclose(full.recorded[t], alone.outputs, atol=1e-6)


def test_batching_does_not_change_result(pair, images):
    f, fu = pair
    a = uma(f, fu, images, steps=6, batch_size=256, progress=False)
    b = uma(f, fu, images, steps=6, batch_size=5, progress=False)
    assert torch.allclose(a.loss, b.loss, atol=1e-6)
    assert a.loss.shape == (len(images),)


class ModeProbe(nn.Module):
    """BatchNorm + Dropout classifier that records the mode it was called in."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                                  nn.Dropout(0.5), nn.Linear(3 * 4 * 4, 4))
        self.seen_training: list[bool] = []

    def forward(self, x):
        self.seen_training.append(self.training or any(m.training for m in self.body.modules()))
        return self.body(x)


def test_models_in_eval_during_attack_and_restored(images):
    f, fu = ModeProbe(0), ModeProbe(1)
    f.train()
    fu.train()
    fu.body[4].eval()  # mixed modes must come back as they were
    stats = fu.body[1].running_mean.clone()
    res = uma(f, fu, images, steps=4, progress=False)
    assert f.seen_training and fu.seen_training
    assert not any(f.seen_training) and not any(fu.seen_training)
    assert torch.equal(fu.body[1].running_mean, stats)  # BatchNorm statistics untouched
    assert f.training and fu.training and fu.body[1].training and not fu.body[4].training
    for p in list(f.parameters()) + list(fu.parameters()):
        assert p.grad is None
    # Dropout off in eval: the returned outputs are reproducible.
    fu.eval()
    with torch.no_grad():
        assert torch.allclose(fu(res.x_adv), res.outputs, atol=1e-5)


def test_modes_restored_after_error():
    f = tiny_cnn(0)
    f.train()
    bad = lambda z: (_ for _ in ()).throw(RuntimeError("boom"))  # noqa: E731
    with pytest.raises(RuntimeError, match="boom"):
        uma(f, bad, torch.rand(2, 1, 6, 6), steps=1, progress=False)
    assert f.training


def test_nan_model_gives_defined_feasible_result(images):
    f = tiny_cnn(0)
    broken = lambda z: f(z) * float("nan")  # noqa: E731
    res = uma(f, broken, images, steps=3, restarts=2, record_steps=[1], progress=False)
    check_feasible(res, images, EPS)
    assert torch.isnan(res.loss).all()


def test_precomputed_target_is_used(pair, images):
    f, fu = pair
    with torch.no_grad():
        t = f(images)
    a = uma(f, fu, images, steps=4, progress=False)
    calls = []
    b = uma(lambda z: calls.append(1) or f(z), fu, images, steps=4, target=t, progress=False)
    assert not calls
    assert torch.allclose(a.loss, b.loss, atol=1e-6)


def test_summary_plain_floats(pair, images):
    f, fu = pair
    res = uma(f, fu, images, labels=torch.zeros(len(images), dtype=torch.long), steps=3, progress=False)
    s = res.summary()
    assert set(s) >= {"loss", "agree_rate", "accuracy", "seconds"}
    assert all(type(v) is float for v in s.values())
    assert 0.0 <= s["agree_rate"] <= 1.0 and 0.0 <= s["accuracy"] <= 1.0
    assert math.isnan(uma(f, fu, images, steps=1, progress=False).summary()["accuracy"])


BAD_ARGS = [
    ("eps", 0.0), ("eps", 2.0), ("eps", -8 / 255), ("eps", float("nan")), ("eps", "8/255"),
    ("step_size", 0.0), ("step_size", -1.0), ("step_size", float("inf")),
    ("steps", -1), ("steps", 2.5), ("steps", True),
    ("loss", "l2"), ("init", "gauss"), ("restarts", 0), ("momentum", -0.1),
    ("task", "regression"), ("batch_size", 0), ("record_steps", [11]), ("record_steps", [-1]),
    ("keep_best", "yes"), ("device", "nonsense-device"),
]


@pytest.mark.parametrize("name,value", BAD_ARGS)
def test_argument_validation(pair, images, name, value):
    f, fu = pair
    calls = []
    spy = lambda z: calls.append(1) or fu(z)  # noqa: E731
    with pytest.raises(ValueError, match=name):
        uma(f, spy, images, **{"steps": 10, "progress": False, name: value})
    assert not calls  # refused before any compute


def test_input_and_label_validation(pair, images):
    f, fu = pair
    with pytest.raises(ValueError, match="inputs"):
        uma(f, fu, images + 0.5, steps=1, progress=False)
    with pytest.raises(ValueError, match="inputs"):
        uma(f, fu, images - 0.5, steps=1, progress=False)
    with pytest.raises(ValueError, match="inputs"):
        uma(f, fu, images[:0], steps=1, progress=False)
    with pytest.raises(ValueError, match="labels"):
        uma(f, fu, images, labels=torch.zeros(3, dtype=torch.long), steps=1, progress=False)
    with pytest.raises(ValueError, match="target"):
        uma(f, fu, images, target=torch.zeros(3, 5), steps=1, progress=False)
    with pytest.raises(ValueError, match="loss"):
        uma(f, fu, images, loss="kl", task="generative", steps=1, progress=False)


@pytest.mark.parametrize("text,expected", [
    ("8/255", 8 / 255), ("16/255", 16 / 255), ("0.03", 0.03), (0.03, 0.03), (" 4 / 255 ", 4 / 255),
    ("1", 1.0), (1, 1.0), ("none", None), ("None", None), ("inf", None), (None, None),
    (float("inf"), None),
])
def test_parse_eps_accepts(text, expected):
    assert parse_eps(text) == expected


@pytest.mark.parametrize("text", [
    "0", "2", "-1/255", "abc", "nan", "1/0", "", "8/255/2", 0, 0.0, -0.1, 1.5, float("nan"), "1e-400",
    True, "-inf",
])
def test_parse_eps_refuses(text):
    with pytest.raises(ValueError, match="eps"):
        parse_eps(text)


def test_registry():
    assert PROBES["uma"].fn is uma and probe_spec("uma").space == "input"
    assert probe_spec("relearn").space == "weights"
    with pytest.raises(ValueError, match="uma"):  # the message lists the known probes
        probe_spec("pgd")


def test_run_probe_owns_and_restores_modes():
    """The base puts both models in eval mode for the probe and restores every submodule's own
    mode afterwards, also when the probe fails."""
    from umalib.attacks.probe import register_probe

    seen = {}

    @register_probe("mode-spy", space="input", summary="records the modes it sees")
    def spy(original, unlearned, fail=False):
        seen["modes"] = (original.training, unlearned.training, unlearned[1].training)
        if fail:
            raise RuntimeError("probe failed")
        return "done"

    try:
        a, b = nn.Sequential(nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
        a.train()
        b.train()
        b[1].eval()  # a deliberately mixed state must come back as it was
        assert run_probe("mode-spy", a, b) == "done"
        assert seen["modes"] == (False, False, False)
        assert (a.training, b.training, b[1].training) == (True, True, False)
        with pytest.raises(RuntimeError):
            run_probe("mode-spy", a, b, fail=True)
        assert (a.training, b.training, b[1].training) == (True, True, False)
    finally:
        PROBES.pop("mode-spy", None)


def test_fast_search_is_as_strong_and_scored_by_the_model_itself():
    """The fast search (BatchNorm folded, channels_last) must not weaken the attack: attacked UA
    within 2 points of the reference path on a 28x28 CNN (the quick profile's architecture),
    and the returned outputs are the unlearned model's own outputs at the returned inputs."""
    from umalib.attacks.uma import search_copy
    from umalib.models.classifiers import build_model

    torch.manual_seed(0)
    orig = build_model("cnn", in_channels=1, num_classes=10, image_size=28, mean=[0.3], std=[0.35],
                       width=8).eval()
    unl = build_model("cnn", in_channels=1, num_classes=10, image_size=28, mean=[0.3], std=[0.35],
                      width=8).eval()
    with torch.no_grad():  # the "unlearned" model: the original with its weights disturbed
        for po, pu in zip(orig.parameters(), unl.parameters()):
            pu.copy_(po + 0.3 * po.std() * torch.randn_like(po))
        for bo, bu in zip(orig.buffers(), unl.buffers()):  # non-trivial BatchNorm statistics
            if bo.dtype.is_floating_point:
                bu.copy_(bo + 0.1 * torch.rand_like(bo))
    x = torch.rand(400, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = orig(x).argmax(1)
        fused = search_copy(unl)
        assert fused.channels_last and not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
        assert torch.allclose(fused(x), unl(x), atol=1e-5)
    kw = dict(labels=y, eps=8 / 255, step_size=1 / 255, steps=30, batch_size=400, progress=False,
              record_steps=[0, 10])
    ref = uma(orig, unl, x, fast=False, **kw)
    fast = uma(orig, unl, x, fast=True, **kw)
    ua_ref, ua_fast = (100 * r.correct.float().mean().item() for r in (ref, fast))
    with torch.no_grad():
        clean = 100 * (unl(x).argmax(1) == y).float().mean().item()
        assert torch.equal(fast.outputs, unl(fast.x_adv))
        assert torch.equal(fast.recorded[0], unl(x))  # step 0 is the clean input
    assert ua_ref > clean + 5  # the attack works
    assert abs(ua_fast - ua_ref) <= 2.0, (ua_ref, ua_fast)
    check_feasible(fast, x, 8 / 255)
    assert all(p.requires_grad for p in unl.parameters()) and any(
        isinstance(m, nn.BatchNorm2d) for m in unl.modules())  # the model itself is untouched
    with pytest.raises(ValueError, match="fast"):
        uma(orig, unl, x[:2], fast="yes")


def test_select_agreement_counts_success_at_any_iterate(pair, images):
    """select="agreement" returns, per sample, an iterate that agrees with the original whenever
    any iterate of the same trajectory did (read from a last-iterate run's recordings)."""
    orig, unl = pair
    steps = 12
    # momentum and a uniform start make the trajectory overshoot, so that the lowest-loss
    # iterate and an agreeing one differ for some samples (checked below)
    kw = dict(eps=64 / 255, step_size=16 / 255, steps=steps, momentum=0.9, init="uniform",
              progress=False)
    every = uma(orig, unl, images, keep_best=False, record_steps=list(range(steps + 1)), **kw)
    top = every.target.argmax(1)
    any_iter = torch.stack([every.recorded[t].argmax(1) == top for t in range(steps + 1)]).any(0)
    by_agree = uma(orig, unl, images, select="agreement", **kw)
    by_loss = uma(orig, unl, images, **kw)
    assert torch.equal(by_agree.agrees, any_iter)
    assert bool((by_agree.agrees | ~by_loss.agrees).all())  # never loses a success
    assert int(by_agree.agrees.sum()) > int(by_loss.agrees.sum())
    check_feasible(by_agree, images, 64 / 255)
    with pytest.raises(ValueError, match="select"):
        uma(orig, unl, images, select="best", **kw)
    with pytest.raises(ValueError, match="class scores"):
        uma(orig, unl, images, select="agreement", task="generative", loss="mse", **kw)
