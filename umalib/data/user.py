"""A user's own verification data: an ``.npz`` file or a folder of images.

- ``.npz``: arrays ``x`` (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 or float in [0, 1], and
  ``y`` (N,) integer labels; optionally ``x_test`` / ``y_test`` (held-out images for the MIA's
  non-members). The forget set is chosen inside it by indices or classes
  (:func:`split_forget`); the rest is the retain set. Loaded with ``allow_pickle=False``.
- a folder with ``forget/``, ``retain/`` and (optional) ``test/``, each holding one
  sub-folder per class named by its class index (``0/``, ``1/``, ...) with image files; or
  named freely, with a ``classes.txt`` at the top listing the names in the model's class order.

Everything returned is float32 (N, C, H, W) in [0, 1] and int64 labels; every malformed input is
refused with a one-line ValueError before any compute.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = ["load_npz", "load_image_dirs", "split_forget", "check_images", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_images(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, source: str
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate images and labels; return (float32 (N, C, H, W) in [0, 1], int64 (N,))."""
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    y = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if x.dtype == object or y.dtype == object:
        raise ValueError(f"{source}: object arrays are not images/labels")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"{source}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with "
                         f"C in (1, 3) and N >= 1, got shape {x.shape}")
    if x.dtype == np.uint8:
        xf = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255)
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise ValueError(f"{source}: images contain NaN or inf")
        if x.min() < 0 or x.max() > 1:
            raise ValueError(f"{source}: float images must lie in [0, 1] (pixel space), got "
                             f"{float(x.min()):.3g}..{float(x.max()):.3g}; store uint8 or divide by 255")
        xf = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    else:
        raise ValueError(f"{source}: images must be uint8 or float, got {x.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{source}: labels must be a 1-D array with one entry per image "
                         f"({len(x)}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all()):
            raise ValueError(f"{source}: labels must be integers, got {y.dtype}")
    if (y < 0).any():
        raise ValueError(f"{source}: labels must be >= 0, got {int(y.min())}")
    return xf, torch.from_numpy(y.astype(np.int64))


def load_npz(path: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"all": (x, y)}`` plus ``"test"`` when ``x_test``/``y_test`` are present."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--data: no file at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # numpy's refusal of pickled object arrays
        raise ValueError(f"{path}: refused ({str(e).splitlines()[0]}); store plain numeric arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: needs arrays 'x' and 'y', missing {missing} (found {sorted(arrays)})")
    out = {"all": check_images(arrays["x"], arrays["y"], f"{path} x/y")}
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise ValueError(f"{path}: give both x_test and y_test or neither")
    if "x_test" in arrays:
        out["test"] = check_images(arrays["x_test"], arrays["y_test"], f"{path} x_test/y_test")
        if out["test"][0].shape[1:] != out["all"][0].shape[1:]:
            raise ValueError(f"{path}: x_test images are {tuple(out['test'][0].shape[1:])}, "
                             f"x images {tuple(out['all'][0].shape[1:])}")
    return out


def split_forget(x: torch.Tensor, y: torch.Tensor, *, indices: Sequence[int] | None = None,
                 classes: Sequence[int] | None = None
                 ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], str]:
    """(forget, retain, scenario) from ``indices`` into ``x`` or from forgotten ``classes``."""
    if (indices is None) == (classes is None):
        raise ValueError("give exactly one of forget indices or forget classes")
    if classes is not None:
        unknown = sorted(set(int(c) for c in classes) - set(y.unique().tolist()))
        if unknown:
            raise ValueError(f"--forget-classes {unknown} have no samples in the data")
        mask = torch.isin(y, torch.tensor([int(c) for c in classes]))
        scenario = "classwise"
    else:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        if idx.dim() != 1 or len(idx) == 0 or int(idx.min()) < 0 or int(idx.max()) >= len(y):
            raise ValueError(f"forget indices must be a non-empty list in [0, {len(y)})")
        mask = torch.zeros(len(y), dtype=torch.bool)
        mask[idx] = True
        scenario = "instancewise"
    if bool(mask.all()):
        raise ValueError("the forget set is the whole data: nothing is left to retain")
    return (x[mask], y[mask]), (x[~mask], y[~mask]), scenario


def _class_names(root: Path, parts: list[Path]) -> dict[str, int]:
    names = sorted({d.name for p in parts for d in p.iterdir() if d.is_dir()})
    listing = root / "classes.txt"
    if listing.is_file():
        order = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
        if len(set(order)) != len(order):
            raise ValueError(f"{listing}: class names repeat")
        unknown = sorted(set(names) - set(order))
        if unknown:
            raise ValueError(f"{listing} does not list the folders {unknown[:5]}")
        return {n: i for i, n in enumerate(order)}
    bad = [n for n in names if not n.isdigit()]
    if bad:
        raise ValueError(f"{root}: class folders must be named by class index (0, 1, ...) or listed "
                         f"in {root / 'classes.txt'} in the model's class order; got {bad[:5]}")
    return {n: int(n) for n in names}


def _read_folder(part: Path, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images, labels, mode, size = [], [], None, None
    for d in sorted(p for p in part.iterdir() if p.is_dir()):
        for f in sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(f) as im:
                    m = mode or ("L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB")
                    arr = np.asarray(im.convert(m))
            except (UnidentifiedImageError, OSError) as e:
                raise ValueError(f"{f}: not a readable image ({e})") from None
            if size is not None and arr.shape != size:
                raise ValueError(f"{f}: size {arr.shape} differs from the other images' {size}")
            mode, size = m, arr.shape
            images.append(arr)
            labels.append(index[d.name])
    if not images:
        raise ValueError(f"{part}: no images ({'/'.join(IMAGE_SUFFIXES)}) in class folders")
    return np.stack(images), np.array(labels, dtype=np.int64)


def load_image_dirs(root: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"forget", "retain"[, "test"]}`` -> (x, y) from ``root``'s image folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data-dir: no folder at {root}")
    parts = {name: root / name for name in ("forget", "retain", "test") if (root / name).is_dir()}
    for required in ("forget", "retain"):
        if required not in parts:
            raise ValueError(f"{root}: needs a {required}/ folder (and optionally test/)")
    index = _class_names(root, list(parts.values()))
    out = {name: check_images(*_read_folder(p, index), str(p)) for name, p in parts.items()}
    shapes = {name: tuple(x.shape[1:]) for name, (x, _) in out.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{root}: image shapes differ between folders: {shapes}")
    return out
