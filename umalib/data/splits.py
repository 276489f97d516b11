"""Splits, forget sets and batch loaders on top of the raw datasets (:mod:`umalib.data.readers`).

Images are kept as uint8 (N, C, H, W) tensors in memory and converted to float [0, 1] per
batch, so Tiny-ImageNet fits in memory too. All randomness is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np
import torch

from ..config import SCENARIOS, DataConfig, ScenarioConfig
from .readers import RawDataset, fingerprint, load_raw

# Per-channel statistics used for the in-model normalisation.
_STATS = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "tiny-imagenet": ((0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821)),
}


@dataclass(frozen=True)
class Splits:
    """Train / validation / test tensors of one dataset (uint8 images, int64 labels)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    fingerprint: str  # of the raw data and the split settings: part of every cache key
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return _STATS[self.name]


@dataclass(frozen=True)
class Scenario:
    """A forgetting request: indices into ``Splits.x_train`` to forget, and the rest.

    ``kind`` is "classwise" (all samples of ``forget_classes``) or "instancewise" (a seeded
    random set of samples).
    """

    kind: str
    forget_idx: torch.Tensor
    retain_idx: torch.Tensor
    forget_classes: tuple[int, ...] = ()

    def test_mask(self, y_test: torch.Tensor) -> torch.Tensor:
        """Test samples used for TA: class-wise TA excludes the forgotten classes."""
        if self.kind != "classwise":
            return torch.ones_like(y_test, dtype=torch.bool)
        return ~torch.isin(y_test, torch.tensor(self.forget_classes))


def _balanced_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices with classes as equal as the data allows, in sorted order."""
    if n >= len(y):
        return np.arange(len(y))
    classes = np.unique(y)
    per = [np.flatnonzero(y == c) for c in classes]
    for p in per:
        rng.shuffle(p)
    take, k = [], 0
    quota = n // len(classes)
    for p in per:
        take.append(p[:quota])
        k += len(p[:quota])
    rest = np.concatenate([p[quota:] for p in per])
    rng.shuffle(rest)
    take.append(rest[: n - k])
    return np.sort(np.concatenate(take))


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@lru_cache(maxsize=4)
def _raw(name: str) -> RawDataset:
    return load_raw(name)


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """Load a dataset and split it as ``cfg`` says.

    Validation: ``val_fraction`` of each class of the official training set, seeded by ``seed``
    (as the reference code's 10% CIFAR-10 hold-out). Then an optional class-balanced training
    subset and test subset, also seeded.
    """
    raw = _raw(cfg.dataset)
    rng = np.random.default_rng(seed)
    y = raw.y_train
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        val.append(idx[: int(round(cfg.val_fraction * len(idx)))])
    val_idx = np.sort(np.concatenate(val))
    train_idx = np.setdiff1d(np.arange(len(y)), val_idx)
    if cfg.train_subset is not None:
        train_idx = train_idx[_balanced_subset(y[train_idx], cfg.train_subset, rng)]
    test_idx = np.arange(len(raw.y_test))
    if cfg.test_subset is not None:
        test_idx = _balanced_subset(raw.y_test, cfg.test_subset, rng)
    fp = f"{fingerprint(raw)}-{cfg.val_fraction}-{cfg.train_subset}-{cfg.test_subset}-{seed}"
    return Splits(
        name=cfg.dataset,
        x_train=_to_tensor(raw.x_train[train_idx]), y_train=torch.from_numpy(y[train_idx]),
        x_val=_to_tensor(raw.x_train[val_idx]), y_val=torch.from_numpy(y[val_idx]),
        x_test=_to_tensor(raw.x_test[test_idx]), y_test=torch.from_numpy(raw.y_test[test_idx]),
        classes=raw.classes, fingerprint=fp, source=raw.source,
    )


def make_scenario(splits: Splits, kind: str, cfg: ScenarioConfig, seed: int) -> Scenario:
    """Build the class-wise or instance-wise forgetting scenario.

    Args:
        kind: "classwise" (forget every training sample of ``cfg.forget_classes``) or
            "instancewise" (forget ``cfg.forget_count`` seeded random training samples).
    Raises:
        ValueError: unknown kind, a class the dataset does not have, or too many samples.
    """
    n = len(splits.y_train)
    if kind == "classwise":
        bad = [c for c in cfg.forget_classes if c >= splits.num_classes]
        if bad:
            raise ValueError(f"forget_classes {bad} not in the dataset's "
                             f"{splits.num_classes} classes (0..{splits.num_classes - 1})")
        mask = torch.isin(splits.y_train, torch.tensor(cfg.forget_classes))
        forget = torch.nonzero(mask).flatten()
        classes = tuple(cfg.forget_classes)
    elif kind == "instancewise":
        if cfg.forget_count >= n:
            raise ValueError(f"scenario.forget_count must be < the {n} training samples, "
                             f"got {cfg.forget_count}")
        g = torch.Generator().manual_seed(seed + 7919)
        forget = torch.randperm(n, generator=g)[: cfg.forget_count].sort().values
        classes = ()
    else:
        raise ValueError(f"scenario kind must be one of {SCENARIOS}, got {kind!r}")
    keep = torch.ones(n, dtype=torch.bool)
    keep[forget] = False
    return Scenario(kind=kind, forget_idx=forget, retain_idx=torch.nonzero(keep).flatten(),
                    forget_classes=classes)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images to float32 in [0, 1] (float input is returned unchanged)."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


class BatchLoader:
    """Minimal, fast in-memory batch iterator yielding ``(x float [0,1], y int64)``.

    Converting whole batches beats a per-item ``DataLoader`` on CPU, and nothing needs worker
    processes. ``shuffle`` uses a generator seeded with ``seed + epoch`` so runs repeat.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
                 shuffle: bool = False, seed: int = 0, drop_last: bool = False) -> None:
        if len(x) != len(y):
            raise ValueError(f"x and y lengths differ: {len(x)} vs {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
            self.epoch += 1
        else:
            order = torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield to_float(self.x[idx]), self.y[idx]


@dataclass(frozen=True)
class ScenarioData:
    """Everything the unlearning and evaluation code needs for one scenario."""

    splits: Splits
    scenario: Scenario

    @property
    def forget(self) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.scenario.forget_idx
        return self.splits.x_train[i], self.splits.y_train[i]

    @property
    def retain(self) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.scenario.retain_idx
        return self.splits.x_train[i], self.splits.y_train[i]

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.scenario.test_mask(self.splits.y_test)
        return self.splits.x_test[m], self.splits.y_test[m]

    def mia_shadow(self, max_n: int | None = None
                   ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """The reference MIA's shadow split: members = the first N retain samples with N = the
        size of the (scenario's) test set, non-members = that test set; ``max_n`` caps N (the
        first ``max_n`` of each, for CPU budgets)."""
        xt, yt = self.test
        xr, yr = self.retain
        n = min(len(yt), len(yr), max_n or len(yt))
        return (xr[:n], yr[:n]), (xt[:n], yt[:n])

    def loader(self, part: str, batch_size: int = 256, shuffle: bool = False,
               seed: int = 0) -> BatchLoader:
        """Loader over "forget", "retain", "test" or "train" (= retain + forget)."""
        if part == "train":
            x, y = self.splits.x_train, self.splits.y_train
        elif part in ("forget", "retain", "test"):
            x, y = getattr(self, part)
        else:
            raise ValueError(f"part must be forget/retain/test/train, got {part!r}")
        return BatchLoader(x, y, batch_size, shuffle, seed)

    def attack_subset(self, max_samples: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A seeded random subset of the forget set (all of it when ``max_samples`` is None)."""
        x, y = self.forget
        if max_samples is None or max_samples >= len(y):
            return to_float(x), y
        g = torch.Generator().manual_seed(seed + 104729)
        idx = torch.randperm(len(y), generator=g)[:max_samples].sort().values
        return to_float(x[idx]), y[idx]

    def relearn_forget(self, k: int, max_samples: int | None, seed: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` forget images a relearning probe may train on, outside
        :meth:`attack_subset` (the last ``k`` of the same seeded permutation, so they are never
        scored). ValueError when ``max_samples`` is None (the whole forget set is scored) or
        the forget set has fewer than ``max_samples + k`` images."""
        x, y = self.forget
        need = (max_samples or 0) + k
        if max_samples is None or len(y) < need:
            raise ValueError(f"relearn: the forget set has {len(y)} images, fewer than the "
                             f"{max_samples} attacked + {k} relearned it needs"
                             if max_samples is not None else
                             "relearn: needs a bounded attack subset (attack.max_samples) to "
                             "keep the relearned images out of the evaluation")
        g = torch.Generator().manual_seed(seed + 104729)
        idx = torch.randperm(len(y), generator=g)[len(y) - k:].sort().values
        return x[idx], y[idx]
