"""Throughput benchmark that prints figures (never asserted in tests).

    python -m umalib bench [--profile quick] [--repeats 3] [--steps 20] [--train-images 4096]

Measured in one process, interleaved, so that the ratios are comparable on a shared, noisy
machine (the best of ``--repeats`` rounds is reported for each path):

- attack: image-steps/s of :func:`umalib.attacks.uma` exactly as the notebooks call it (the
  profile's attack batch size and fast search path) against a plain fp32 PGD loop (NCHW, KL loss, sign
  step, projection) on the same two models and inputs;
- training: images/s of :func:`umalib.train.train_classifier` with the profile's recipe
  (channels_last, bf16 as configured) against a plain fp32 SGD loop (NCHW, cross-entropy).
"""

from __future__ import annotations

import argparse
import time
from typing import Sequence

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


def plain_attack_rate(original: torch.nn.Module, unlearned: torch.nn.Module, x: torch.Tensor,
                      eps: float, step: float, steps: int) -> float:
    """Image-steps/s of a plain fp32 PGD loop (KL to the original's outputs, sign descent)."""
    t0 = time.perf_counter()
    with torch.no_grad():
        target = F.softmax(original(x), 1)
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(unlearned(x_adv), 1), target, reduction="sum")
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() - step * g.sign(), x - eps), x + eps).clamp(0, 1)
    return len(x) * steps / (time.perf_counter() - t0)


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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20, help="attack steps per measurement")
    ap.add_argument("--train-images", type=int, default=4096)
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.steps < 1 or args.train_images < 1:
        ap.error("--repeats, --steps and --train-images must be >= 1")
    p = load(args.profile)
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
    rates: dict[str, list[float]] = {k: [] for k in ("plain attack", "uma", "plain train", "train")}
    for _ in range(args.repeats):  # interleaved, so load changes hit every path alike
        rates["plain attack"].append(plain_attack_rate(orig, unl, x_att, p.attack.eps[0],
                                                       p.attack.step_size, args.steps))
        rates["uma"].append(umalib_attack_rate(p, orig, unl, x_att, args.steps))
        rates["plain train"].append(plain_train_rate(p, x_tr, y_tr))
        rates["train"].append(umalib_train_rate(p, x_tr, y_tr))
    best = {k: max(v) for k, v in rates.items()}
    print(f"  attack, plain fp32 loop:          {best['plain attack']:9.0f} image-steps/s")
    print(f"  attack, umalib.attacks.uma:       {best['uma']:9.0f} image-steps/s   "
          f"{best['uma'] / best['plain attack']:.2f}x (target >= 2.0x)")
    print(f"  training, plain fp32 loop:        {best['plain train']:9.0f} images/s")
    print(f"  training, train_classifier:       {best['train']:9.0f} images/s   "
          f"{best['train'] / best['plain train']:.2f}x (target >= 1.5x)")
    return 0
