"""ImageNet-1k from the official JPEG folders, sampled for the generative experiment.

The paper's MAE experiment (notebook 03, paper profile) runs on ImageNet-1k at 224x224. The
full training set (1.28M images, about 190 GB as 224x224 uint8) never fits in memory, so this
module reads only the images a run needs: a seeded sample of forget-class and retain-class
images from ``train/`` (for unlearning and the domain feature network) and from ``val/`` (for
evaluation).

On-disk layout (the ILSVRC2012 archives, with the validation images sorted into class folders
as torchvision's ``ImageNet`` / ``ImageFolder`` and the usual ``valprep.sh`` leave them)::

    <root>/train/<wnid>/*.JPEG
    <root>/val/<wnid>/*.JPEG

``root`` defaults to ``<data dir>/imagenet`` (``$UMALIB_DATA`` or ``<repo>/data``). Class ``i``
is the ``i``-th wnid in sorted order, the standard ImageNet-1k class index. Each image is
converted to RGB (a few ImageNet files are greyscale or CMYK), its shorter side resized to
``size * 256 / 224`` (bicubic) and centre-cropped to ``size`` x ``size``: the MAE's evaluation
transform. Nothing is ever downloaded or fabricated: a missing tree raises
``FileNotFoundError`` saying what to put where.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .readers import _default_data_dir
from .splits import Splits
from .user import IMAGE_SUFFIXES

__all__ = ["check_imagenet_root", "data_path", "imagenet_root", "index_split",
           "load_image", "load_imagenet_sample"]

_HINT = ("download ILSVRC2012 (image-net.org: the train and val archives), extract the "
         "training images into train/<wnid>/ and sort the validation images into val/<wnid>/ "
         "(torchvision.datasets.ImageNet or the usual valprep.sh do this)")


def data_path(path: str | Path) -> Path:
    """``path`` expanded; a relative one is read under the data directory (``$UMALIB_DATA`` or
    ``<repo>/data``), where the datasets live too."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else _default_data_dir() / p


def imagenet_root(root: str | Path | None = None) -> Path:
    """``root`` or ``imagenet``, as :func:`data_path` reads it (a relative path lies under the
    data directory)."""
    return data_path(root if root is not None else "imagenet")


def check_imagenet_root(root: str | Path | None = None) -> Path:
    """The ImageNet root with its ``train/`` and ``val/`` folders, or ``FileNotFoundError``
    saying what to put where (a cheap check: nothing is listed or decoded)."""
    d = imagenet_root(root)
    for split in ("train", "val"):
        if not (d / split).is_dir():
            raise FileNotFoundError(f"ImageNet {split} folder {d / split} not found; {_HINT}")
    return d


def index_split(root: Path, split: str) -> tuple[list[str], list[tuple[Path, int]]]:
    """(sorted wnids, [(file, class index)] in sorted order) of ``root/split``, nothing decoded.

    Raises ``FileNotFoundError`` for a missing folder and ``ValueError`` for a folder that holds
    images directly (an unsorted ``val/``) or no images at all.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    d = root / split
    if not d.is_dir():
        raise FileNotFoundError(f"ImageNet {split} folder {d} not found; {_HINT}")
    loose = [p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise ValueError(f"{d} holds {len(loose)} images directly (e.g. {loose[0].name}); the "
                         f"images must sit in one folder per class, {d}/<wnid>/; {_HINT}")
    wnids = sorted(p.name for p in d.iterdir() if p.is_dir())
    files: list[tuple[Path, int]] = []
    for i, w in enumerate(wnids):
        files += [(p, i) for p in sorted((d / w).iterdir())
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ValueError(f"{d} has no images in class folders; {_HINT}")
    return wnids, files


def load_image(path: Path, size: int) -> np.ndarray:
    """One image file -> uint8 (size, size, 3): RGB, shorter side to round(size * 256 / 224)
    (bicubic), centre crop; pixel for pixel torchvision's ``Resize`` + ``CenterCrop`` on the
    PIL image."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            short = round(size * 256 / 224)
            # the long side as torchvision's Resize computes it (truncated)
            nw, nh = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
            im = im.resize((nw, nh), Image.BICUBIC)
            # offsets rounded as torchvision's CenterCrop rounds them
            left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
            arr = np.asarray(im.crop((left, top, left + size, top + size)))
    except FileNotFoundError:
        raise
    except OSError as e:  # PIL's UnidentifiedImageError and truncated files
        raise ValueError(f"cannot decode image {path}: {e}") from e
    return arr


def _sample(files: list[tuple[Path, int]], forget: set[int], n_forget: int, n_retain: int,
            rng: np.random.Generator) -> list[tuple[Path, int]]:
    """Up to ``n_forget`` forget-class and ``n_retain`` other files, seeded, in sorted order."""
    out = []
    for want, n in ((True, n_forget), (False, n_retain)):
        side = [f for f in files if (f[1] in forget) == want]
        pick = rng.choice(len(side), size=min(n, len(side)), replace=False) if side else []
        out += [side[i] for i in sorted(pick)]
    return out


def _decode(files: list[tuple[Path, int]], size: int, desc: str,
            progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from tqdm.auto import tqdm

    x = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, (p, _) in enumerate(tqdm(files, desc=desc, unit="img", disable=not progress)):
        x[i] = load_image(p, size)
    y = torch.tensor([c for _, c in files], dtype=torch.int64)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), y


def load_imagenet_sample(*, forget_classes: Sequence[int], train_forget: int, train_retain: int,
                         test_per_side: int, size: int, seed: int,
                         root: str | Path | None = None, progress: bool = True) -> Splits:
    """A seeded sample of ImageNet-1k as :class:`~umalib.data.splits.Splits` (uint8 images).

    ``x_train``: ``train_forget`` images of ``forget_classes`` and ``train_retain`` of the other
    classes from ``train/``, shuffled together (seeded), so a prefix is a mixed sample;
    ``x_test``: ``test_per_side`` of each side from ``val/`` (all there are when fewer: ImageNet
    has 50 validation images per class). No validation split (``x_val`` is empty). The
    fingerprint hashes the chosen files' relative paths and sizes with the settings, so a
    changed tree or sample changes every cache key built on it.
    """
    for name, v in (("train_forget", train_forget), ("train_retain", train_retain),
                    ("test_per_side", test_per_side), ("size", size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    d = imagenet_root(root)
    wnids, train = index_split(d, "train")
    val_wnids, val = index_split(d, "val")
    if val_wnids != wnids:
        extra = sorted(set(val_wnids) ^ set(wnids))[:3]
        raise ValueError(f"{d}/train and {d}/val have different class folders (e.g. {extra})")
    bad = [k for k in forget_classes if not 0 <= k < len(wnids)]
    if bad or not forget_classes:
        raise ValueError(f"forget_classes must be non-empty class indices below {len(wnids)}, "
                         f"got {list(forget_classes)}")
    forget = set(int(k) for k in forget_classes)
    rng = np.random.default_rng(seed)
    train_pick = _sample(train, forget, train_forget, train_retain, rng)
    test_pick = _sample(val, forget, test_per_side, test_per_side, rng)
    train_pick = [train_pick[i] for i in rng.permutation(len(train_pick))]
    h = hashlib.sha256(f"imagenet|{size}|{seed}|{sorted(forget)}".encode())
    for p, c in train_pick + test_pick:
        h.update(f"{p.relative_to(d)}|{p.stat().st_size}|{c}\n".encode())
    x_train, y_train = _decode(train_pick, size, "imagenet train sample", progress)
    x_test, y_test = _decode(test_pick, size, "imagenet val sample", progress)
    empty = torch.empty((0, 3, size, size), dtype=torch.uint8)
    return Splits(name="imagenet", x_train=x_train, y_train=y_train, x_val=empty,
                  y_val=torch.empty(0, dtype=torch.int64), x_test=x_test, y_test=y_test,
                  classes=tuple(wnids), fingerprint=h.hexdigest()[:16], source=str(d))
