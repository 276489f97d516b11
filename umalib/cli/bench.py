"""Throughput benchmark that prints figures (never asserted in tests).

    python -m umalib bench [--profile quick] [--batches 10]

Prints training images/s of the profile's classifier (fp32 vs bf16 autocast, NCHW vs
channels_last) and UMA throughput (images x steps per second), measured in one run so that
ratios are comparable on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from ..attacks.uma import uma
from ..config import load
from ..models.classifiers import build_model
from ..train import autocast


def _model(p, channels_last: bool):
    c, h = (1, 28) if p.data.dataset == "fashion-mnist" else (3, 64 if p.data.dataset == "tiny-imagenet" else 32)
    m = build_model(p.model.arch, in_channels=c, num_classes=10, image_size=h, mean=[0.5] * c,
                    std=[0.25] * c, width=p.model.width)
    return (m.to(memory_format=torch.channels_last) if channels_last else m), c, h


def train_rate(p, bf16: bool, channels_last: bool, batches: int) -> float:
    m, c, h = _model(p, channels_last)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    bs = p.train.batch_size
    x, y = torch.rand(bs, c, h, h), torch.randint(0, 10, (bs,))
    for i in range(batches + 2):
        if i == 2:
            t0 = time.perf_counter()
        with autocast(bf16, "cpu"):
            loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return bs * batches / (time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib bench", description=__doc__)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--batches", type=int, default=10)
    args = ap.parse_args(argv)
    p = load(args.profile)
    print(f"profile {p.name}: {p.model.arch} width {p.model.width}, batch {p.train.batch_size}, "
          f"{torch.get_num_threads()} threads")
    for bf16 in (False, True):
        for cl in (False, True):
            print(f"  train  bf16={bf16!s:5} channels_last={cl!s:5}: "
                  f"{train_rate(p, bf16, cl, args.batches):8.0f} images/s")
    m, c, h = _model(p, p.train.channels_last)
    x = torch.rand(p.attack.batch_size, c, h, h)
    m2, _, _ = _model(p, p.train.channels_last)
    steps = 20
    r = uma(m, m2, x, eps=8 / 255, steps=steps, progress=False)
    print(f"  UMA ({len(x)} images x {steps} steps): {len(x) * steps / r.seconds:8.0f} images x steps / s")
    return 0
