"""Throughput benchmark that prints figures (never asserted in tests).

    python -m umalib bench [--profile quick] [--repeats 3] [--steps 20] [--train-images 4096]
    python -m umalib bench --stages [--profile quick] [--cache DIR]

Measured in one process, interleaved, so that the ratios are comparable on a shared, noisy
machine (the best of ``--repeats`` rounds is reported for each path):

- attack: image-steps/s of :func:`umalib.attacks.uma` exactly as the notebooks call it (the
  profile's attack batch size and fast search path) against a plain fp32 PGD loop (NCHW, KL loss, sign
  step, projection) on the same two models and inputs;
- training: images/s of :func:`umalib.train.train_classifier` with the profile's recipe
  (channels_last, bf16 as configured) against a plain fp32 SGD loop (NCHW, cross-entropy);
- MAE attack: image-steps/s of :func:`umalib.attacks.uma` on the profile's MAE inpainter as the
  generative stages call it (MSE on the generated square, batch 256) against a plain fp32 PGD
  loop on the same two models and images.

``--stages`` prints instead where a cached run's compute went: per stage, how many artifacts
the cache holds and the seconds they took when they were built (``meta.json``; every seed and
profile the cache holds), so that the next change can be judged stage by stage.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..attacks.uma import uma
from ..config import PROFILES, Profile, load
from ..data.splits import BatchLoader
from ..models.classifiers import build_model
from ..train import train_classifier

_SHAPES = {"fashion-mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32), "tiny-imagenet": (3, 64)}


def _model(p: Profile, seed: int) -> torch.nn.Module:
    c, h = _SHAPES[p.data.dataset]
    torch.manual_seed(seed)
    return build_model(p.model.arch, in_channels=c, num_classes=10, image_size=h,
                       mean=[0.5] * c, std=[0.25] * c, width=p.model.width).eval()


def _plain_pgd_rate(loss_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    eps: float, step: float, steps: int, t0: float) -> float:
    """Image-steps/s since ``t0`` of plain sign-gradient descent on ``loss_of(x_adv)`` with the
    L-inf projection onto the ``eps`` ball around ``x`` and [0, 1]."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (g,) = torch.autograd.grad(loss_of(x_adv), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() - step * g.sign(), x - eps), x + eps).clamp(0, 1)
    return len(x) * steps / (time.perf_counter() - t0)


def plain_attack_rate(original: torch.nn.Module, unlearned: torch.nn.Module, x: torch.Tensor,
                      eps: float, step: float, steps: int) -> float:
    """Image-steps/s of a plain fp32 PGD loop (KL to the original's outputs, sign descent)."""
    t0 = time.perf_counter()
    with torch.no_grad():
        target = F.softmax(original(x), 1)
    return _plain_pgd_rate(
        lambda z: F.kl_div(F.log_softmax(unlearned(z), 1), target, reduction="sum"),
        x, eps, step, steps, t0)


def umalib_attack_rate(p: Profile, original: torch.nn.Module, unlearned: torch.nn.Module,
                       x: torch.Tensor, steps: int) -> float:
    """Image-steps/s of :func:`uma` with the profile's attack settings (as the notebooks call it)."""
    a = p.attack
    r = uma(original, unlearned, x, eps=a.eps[0], step_size=a.step_size, steps=steps, loss=a.loss,
            init=a.init, batch_size=a.batch_size, fast=a.fast, progress=False)
    return len(x) * steps / r.seconds


def plain_train_rate(p: Profile, x: torch.Tensor, y: torch.Tensor) -> float:
    """Images/s of one epoch of a plain fp32 SGD loop (NCHW) with the profile's batch size."""
    model = _model(p, 1).train()
    opt = torch.optim.SGD(model.parameters(), lr=p.train.lr, momentum=0.9)
    bs = p.train.batch_size
    t0 = time.perf_counter()
    for i in range(0, len(x), bs):
        loss = F.cross_entropy(model(x[i:i + bs]), y[i:i + bs])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return len(x) / (time.perf_counter() - t0)


def umalib_train_rate(p: Profile, x: torch.Tensor, y: torch.Tensor) -> float:
    """Images/s of one epoch of :func:`train_classifier` with the profile's recipe."""
    import dataclasses

    model = _model(p, 1)
    loader = BatchLoader((x * 255).to(torch.uint8), y, p.train.batch_size, shuffle=True)
    cfg = dataclasses.replace(p.train, epochs=1)
    res = train_classifier(model, loader, cfg, progress=False)
    return len(x) / res.seconds


def _mae_pair(p: Profile) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """Two seeded MAE inpainters of the profile's architecture, their generated-square mask
    and a batch of 256 images (the attack's shapes; the weights do not change its speed)."""
    from ..experiments.generative import mae_config
    from ..models.mae import MAE, Inpainter, centre_square_keep, inpainted_region

    c, h = _SHAPES[p.data.dataset]
    cfg = mae_config(p.generative, c, h)
    keep = centre_square_keep(cfg, 1, p.generative.square_frac)[0]
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(Inpainter(MAE(cfg), keep).eval())
    x = torch.rand(256, c, h, h, generator=torch.Generator().manual_seed(2))
    return nets[0], nets[1], inpainted_region(keep, cfg).float(), x


def plain_mae_attack_rate(orig: torch.nn.Module, unl: torch.nn.Module, region: torch.Tensor,
                          x: torch.Tensor, eps: float, step: float, steps: int) -> float:
    """Image-steps/s of a plain fp32 PGD loop on the inpainter (MSE on the generated square)."""
    t0 = time.perf_counter()
    with torch.no_grad():
        target = orig(x) * region
    return _plain_pgd_rate(lambda z: ((unl(z) * region - target) ** 2).sum(), x, eps, step,
                           steps, t0)


def umalib_mae_attack_rate(p: Profile, orig: torch.nn.Module, unl: torch.nn.Module,
                           region: torch.Tensor, x: torch.Tensor, steps: int) -> float:
    """Image-steps/s of :func:`uma` on the inpainter as the generative stages call it."""
    g = p.generative
    r = uma(lambda im: orig(im) * region, lambda im: unl(im) * region, x, eps=g.eps,
            step_size=g.step_size, steps=steps, loss="mse", task="generative", batch_size=256,
            progress=False)
    return len(x) * steps / r.seconds


def stage_seconds(cache: Path) -> list[tuple[str, int, float]]:
    """(stage, artifacts, seconds when built) for every stage folder of ``cache``, most
    seconds first."""
    import json

    rows = []
    for stage in sorted(p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n, secs = 0, 0.0
        for meta in stage.glob("*/meta.json"):
            n += 1
            secs += float(json.loads(meta.read_text()).get("seconds") or 0.0)
        if n:
            rows.append((stage.name, n, secs))
    return sorted(rows, key=lambda r: -r[2])


def print_stages(p: Profile, cache: Path) -> int:
    rows = stage_seconds(cache) if cache.is_dir() else []
    if not rows:
        print(f"no artifacts in {cache.name}/: run `make reproduce PROFILE={p.name}` first")
        return 1
    print(f"seconds per stage when its artifacts were built (cache {cache.name}/, every seed "
          "it holds)")
    for stage, n, secs in rows:
        print(f"  {stage:16s} {n:4d} artifacts {secs:8.1f} s")
    print(f"  {'total':16s} {sum(r[1] for r in rows):4d} artifacts {sum(r[2] for r in rows):8.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20, help="attack steps per measurement")
    ap.add_argument("--train-images", type=int, default=4096)
    ap.add_argument("--stages", action="store_true",
                    help="print the seconds per stage of a cached run instead")
    ap.add_argument("--cache", default=None, help="with --stages: default $UMALIB_CACHE or artifacts/")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.steps < 1 or args.train_images < 1:
        ap.error("--repeats, --steps and --train-images must be >= 1")
    p = load(args.profile)
    if args.stages:
        from ..cache import cache_root

        return print_stages(p, Path(args.cache) if args.cache else cache_root())
    c, h = _SHAPES[p.data.dataset]
    g = torch.Generator().manual_seed(0)
    x_att = torch.rand(p.attack.batch_size, c, h, h, generator=g)
    x_tr = torch.rand(args.train_images, c, h, h, generator=g)
    y_tr = torch.randint(0, 10, (args.train_images,), generator=g)
    orig, unl = _model(p, 0), _model(p, 1)
    print(f"profile {p.name}: {p.model.arch} width {p.model.width}, {c}x{h}x{h}, "
          f"{torch.get_num_threads()} threads; attack batch {p.attack.batch_size}, fast search "
          f"{p.attack.fast}; train batch {p.train.batch_size}, channels_last "
          f"{p.train.channels_last}, bf16 {p.train.bf16}")
    m_orig, m_unl, region, x_mae = _mae_pair(p)
    rates: dict[str, list[float]] = {k: [] for k in ("plain attack", "uma", "plain train", "train",
                                                     "plain mae", "uma mae")}
    for _ in range(args.repeats):  # interleaved, so load changes hit every path alike
        rates["plain attack"].append(plain_attack_rate(orig, unl, x_att, p.attack.eps[0],
                                                       p.attack.step_size, args.steps))
        rates["uma"].append(umalib_attack_rate(p, orig, unl, x_att, args.steps))
        rates["plain train"].append(plain_train_rate(p, x_tr, y_tr))
        rates["train"].append(umalib_train_rate(p, x_tr, y_tr))
        rates["plain mae"].append(plain_mae_attack_rate(m_orig, m_unl, region, x_mae,
                                                        p.generative.eps, p.generative.step_size,
                                                        args.steps))
        rates["uma mae"].append(umalib_mae_attack_rate(p, m_orig, m_unl, region, x_mae,
                                                       args.steps))
    best = {k: max(v) for k, v in rates.items()}
    print(f"  attack, plain fp32 loop:          {best['plain attack']:9.0f} image-steps/s")
    print(f"  attack, umalib.attacks.uma:       {best['uma']:9.0f} image-steps/s   "
          f"{best['uma'] / best['plain attack']:.2f}x (target >= 2.0x)")
    print(f"  training, plain fp32 loop:        {best['plain train']:9.0f} images/s")
    print(f"  training, train_classifier:       {best['train']:9.0f} images/s   "
          f"{best['train'] / best['plain train']:.2f}x (target >= 1.5x)")
    print(f"  MAE attack, plain fp32 loop:      {best['plain mae']:9.0f} image-steps/s")
    print(f"  MAE attack, umalib.attacks.uma:   {best['uma mae']:9.0f} image-steps/s   "
          f"{best['uma mae'] / best['plain mae']:.2f}x")
    return 0
