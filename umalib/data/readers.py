"""Readers for the real on-disk image datasets used by umalib.

Every reader returns a :class:`RawDataset` of uint8 images (N, H, W, C) and int64 labels exactly as
stored in the official distribution files; conversion to float tensors happens elsewhere. Nothing
here ever fabricates data: a missing dataset raises ``FileNotFoundError`` that says where to get it.

Supported names and their on-disk layouts (``data_dir`` defaults to ``$UMALIB_DATA`` or
``<repo root>/data``):

* ``fashion-mnist``: the four idx files (``.gz`` or uncompressed), looked up in
  ``/usr/share/datasets/fashion-mnist/`` (Debian package ``dataset-fashion-mnist``), then
  ``<data_dir>/fashion-mnist/``, then ``<data_dir>/FashionMNIST/raw/`` (torchvision's layout).
  As a last resort torchvision's downloader is tried (needs network).
* ``cifar10``: ``<data_dir>/cifar-10-batches-py/`` (the official "python version" archive).
* ``cifar100``: ``<data_dir>/cifar-100-python/`` (official "python version"; fine labels).
* ``tiny-imagenet``: ``<data_dir>/tiny-imagenet-200/`` (official layout). The labelled ``val``
  split is returned as the test set, since the official test split has no labels. Class index
  ``i`` is the ``i``-th line of ``wnids.txt``.

The CIFAR files are pickles; they are read with a restricted unpickler that only resolves the few
numpy globals those files need, so a tampered file cannot run code.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DATASETS
from ..files import atomic_write

__all__ = ["DATASETS", "RawDataset", "fingerprint", "load_raw"]


# Module-level so tests can point the system lookup elsewhere.
_SYSTEM_FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_FMNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FMNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class RawDataset:
    """A dataset as stored on disk.

    ``x_*`` are uint8 arrays (N, H, W, C) with C=1 for greyscale, ``y_*`` int64 arrays (N,) with
    values in ``[0, len(classes))``; ``source`` is the directory that was actually read.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str


def _default_data_dir() -> Path:
    env = os.environ.get("UMALIB_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data"  # <repo>/data (this file: umalib/data/)


def load_raw(name: str, data_dir: str | Path | None = None, *, progress: bool = True) -> RawDataset:
    """Read dataset ``name`` (one of :data:`DATASETS`) from disk.

    ``data_dir`` defaults to ``$UMALIB_DATA`` or ``<repo root>/data``. ``progress`` shows a tqdm
    bar where decoding is slow (Tiny ImageNet). Returns a :class:`RawDataset` with uint8 images
    (N, H, W, C) and int64 labels. Raises ``ValueError`` for an unknown name or a corrupt file and
    ``FileNotFoundError`` (saying where to get the data) when the files are absent.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    root = Path(data_dir).expanduser() if data_dir is not None else _default_data_dir()
    if name == "fashion-mnist":
        return _load_fashion_mnist(root)
    if name == "cifar10":
        return _load_cifar10(root)
    if name == "cifar100":
        return _load_cifar100(root)
    return _load_tiny_imagenet(root, progress=progress)


def fingerprint(ds: RawDataset) -> str:
    """Return a 16-hex-digit sha256 prefix over the name, classes and the four arrays.

    Each array contributes its dtype, shape and raw bytes, so any changed pixel or label changes
    the result. Hashes the buffers directly (about 1 GB/s).
    """
    h = hashlib.sha256()
    h.update(ds.name.encode())
    h.update("\x00".join(ds.classes).encode())
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        a = np.ascontiguousarray(arr)
        h.update(f"|{a.dtype.str}|{a.shape}|".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (idx format)
# ---------------------------------------------------------------------------------------------

def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse one idx file of unsigned bytes with ``ndim`` dimensions (gzip or raw)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ValueError(f"cannot read idx file {path}: {e}") from e
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"idx file {path} is truncated: {len(raw)} bytes, header needs {header}")
    magic = int.from_bytes(raw[:4], "big")
    # 0x08 = unsigned byte element type; low byte = number of dimensions.
    if magic != (0x0800 | ndim):
        raise ValueError(
            f"idx file {path} has magic number 0x{magic:08x}, expected 0x{0x0800 | ndim:08x}"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise ValueError(
            f"idx file {path} is truncated or corrupt: {len(raw)} bytes, "
            f"header dims {dims} imply {expected}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find_idx_files(d: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in _FMNIST_FILES.items():
        for cand in (d / f"{stem}.gz", d / stem):
            if cand.is_file():
                found[key] = cand
                break
        else:
            return None
    return found


def _download_fashion_mnist(root: Path) -> bool:
    """Try torchvision's downloader into ``root/FashionMNIST/raw``; True on success."""
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(root=str(root), train=True, download=True)
        FashionMNIST(root=str(root), train=False, download=True)
        return True
    except Exception as e:  # noqa: BLE001 -- any failure (no network, no torchvision) falls through
        warnings.warn(f"torchvision download of Fashion-MNIST failed: {e}", stacklevel=3)
        return False


def _load_fashion_mnist(root: Path) -> RawDataset:
    candidates = [_SYSTEM_FMNIST_DIR, root / "fashion-mnist", root / "FashionMNIST" / "raw"]
    files = None
    for d in candidates:
        files = _find_idx_files(d)
        if files is not None:
            source = d
            break
    if files is None and _download_fashion_mnist(root):
        source = root / "FashionMNIST" / "raw"
        files = _find_idx_files(source)
    if files is None:
        searched = "\n  ".join(str(d) for d in candidates)
        raise FileNotFoundError(
            "Fashion-MNIST not found; searched (for the four idx files "
            f"{', '.join(_FMNIST_FILES.values())}, optionally .gz):\n  {searched}\n"
            "and the torchvision download failed. Install it with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or put the four idx "
            f"files into {root / 'fashion-mnist'}/."
        )
    x_train = _read_idx(files["x_train"], 3)[..., None]
    y_train = _read_idx(files["y_train"], 1).astype(np.int64)
    x_test = _read_idx(files["x_test"], 3)[..., None]
    y_test = _read_idx(files["y_test"], 1).astype(np.int64)
    _check_pair("fashion-mnist train", x_train, y_train, len(_FMNIST_CLASSES), source)
    _check_pair("fashion-mnist test", x_test, y_test, len(_FMNIST_CLASSES), source)
    return RawDataset("fashion-mnist", x_train, y_train, x_test, y_test, _FMNIST_CLASSES, str(source))


def _check_pair(what: str, x: np.ndarray, y: np.ndarray, num_classes: int, source: Path) -> None:
    if len(x) != len(y):
        raise ValueError(f"{what} in {source}: {len(x)} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{what} in {source}: labels span [{y.min()}, {y.max()}], expected [0, {num_classes})"
        )


# ---------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 (official python pickles)
# ---------------------------------------------------------------------------------------------

def _allowed_globals() -> dict[tuple[str, str], Any]:
    from numpy._core import multiarray, numeric

    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    # The official files were written by Python 2 with numpy 1 (numpy.core.*); numpy 2 writes
    # numpy._core.*. Map both spellings without importing the deprecated numpy.core shim.
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    # Python 3 writes bytes objects as _codecs.encode(str, "latin1") under protocol <= 2, so
    # re-saved copies of the files need it; it only converts text to bytes.
    import _codecs

    allowed[("_codecs", "encode")] = _codecs.encode
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array reconstruction globals (see ``_allowed_globals``)."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if _RestrictedUnpickler._allowed is None:
            _RestrictedUnpickler._allowed = _allowed_globals()
        try:
            return _RestrictedUnpickler._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: not needed by the official dataset files"
            ) from None


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing dataset file {path}")
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{path}: {e}") from e
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"{path} is not a valid dataset pickle: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    return obj


def _cifar_images(path: Path, batch: dict, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        data, labels = batch[b"data"], batch[label_key]
    except KeyError as e:
        raise ValueError(f"{path}: missing key {e.args[0]!r}") from None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' must be uint8 (N, 3072), got {desc}")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(data),):
        raise ValueError(f"{path}: {len(data)} images but labels of shape {y.shape}")
    # Rows are stored channel-major (1024 R, 1024 G, 1024 B, each row-major 32x32).
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, y


def _decode_names(path: Path, meta: dict, key: bytes) -> tuple[str, ...]:
    try:
        names = meta[key]
    except KeyError:
        raise ValueError(f"{path}: missing key {key!r}") from None
    return tuple(n.decode("ascii") if isinstance(n, bytes) else str(n) for n in names)


def _cifar_missing(d: Path, archive: str, root: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"{archive} not found: expected directory {d}. Download the official "
        f"'{archive} python version' archive from the University of Toronto CIFAR page "
        f"(Alex Krizhevsky's), then extract it into {root} so that {d} exists. "
        "umalib never downloads CIFAR itself."
    )


def _load_cifar10(root: Path) -> RawDataset:
    d = root / "cifar-10-batches-py"
    if not d.is_dir():
        raise _cifar_missing(d, "CIFAR-10", root)
    meta_path = d / "batches.meta"
    classes = _decode_names(meta_path, _load_pickle(meta_path), b"label_names")
    xs, ys = [], []
    for i in range(1, 6):
        p = d / f"data_batch_{i}"
        x, y = _cifar_images(p, _load_pickle(p), b"labels")
        xs.append(x)
        ys.append(y)
    x_test, y_test = _cifar_images(d / "test_batch", _load_pickle(d / "test_batch"), b"labels")
    x_train, y_train = np.concatenate(xs), np.concatenate(ys)
    _check_pair("cifar10 train", x_train, y_train, len(classes), d)
    _check_pair("cifar10 test", x_test, y_test, len(classes), d)
    return RawDataset("cifar10", x_train, y_train, x_test, y_test, classes, str(d))


def _load_cifar100(root: Path) -> RawDataset:
    d = root / "cifar-100-python"
    if not d.is_dir():
        raise _cifar_missing(d, "CIFAR-100", root)
    classes = _decode_names(d / "meta", _load_pickle(d / "meta"), b"fine_label_names")
    x_train, y_train = _cifar_images(d / "train", _load_pickle(d / "train"), b"fine_labels")
    x_test, y_test = _cifar_images(d / "test", _load_pickle(d / "test"), b"fine_labels")
    _check_pair("cifar100 train", x_train, y_train, len(classes), d)
    _check_pair("cifar100 test", x_test, y_test, len(classes), d)
    return RawDataset("cifar100", x_train, y_train, x_test, y_test, classes, str(d))


# ---------------------------------------------------------------------------------------------
# Tiny ImageNet (JPEG tree)
# ---------------------------------------------------------------------------------------------

_TINY_SIZE = 64
_CACHE_PREFIX = "umalib-cache-"


def _read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _tiny_index(d: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Return (wnids, [(train_file, label)], [(val_file, label)]) without decoding anything."""
    wnids_path = d / "wnids.txt"
    if not wnids_path.is_file():
        raise FileNotFoundError(f"missing {wnids_path}")
    wnids = _read_lines(wnids_path)
    if len(set(wnids)) != len(wnids) or not wnids:
        raise ValueError(f"{wnids_path}: empty or contains duplicate wnids")
    index = {w: i for i, w in enumerate(wnids)}

    train: list[tuple[Path, int]] = []
    for w in wnids:
        img_dir = d / "train" / w / "images"
        if not img_dir.is_dir():
            raise FileNotFoundError(f"missing training image directory {img_dir}")
        files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
        if not files:
            raise ValueError(f"{img_dir} contains no JPEG images")
        train.extend((p, index[w]) for p in files)

    ann = d / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise FileNotFoundError(f"missing {ann}")
    val: list[tuple[Path, int]] = []
    for lineno, line in enumerate(_read_lines(ann), 1):
        cols = line.split("\t")
        if len(cols) < 2:
            raise ValueError(f"{ann}:{lineno}: expected tab-separated 'file wnid ...', got {line!r}")
        if cols[1] not in index:
            raise ValueError(f"{ann}:{lineno}: wnid {cols[1]!r} is not listed in {wnids_path}")
        val.append((d / "val" / "images" / cols[0], index[cols[1]]))
    return wnids, train, val


def _tiny_classes(d: Path, wnids: list[str]) -> tuple[str, ...]:
    words = d / "words.txt"
    names: dict[str, str] = {}
    if words.is_file():
        for line in words.read_text(encoding="utf-8").splitlines():
            wnid, _, text = line.partition("\t")
            names[wnid.strip()] = text.strip()
    return tuple(names.get(w) or w for w in wnids)


def _decode_jpegs(files: list[tuple[Path, int]], desc: str, progress: bool) -> np.ndarray:
    from PIL import Image
    from tqdm.auto import tqdm

    out = np.empty((len(files), _TINY_SIZE, _TINY_SIZE, 3), dtype=np.uint8)
    for i, (p, _) in enumerate(tqdm(files, desc=desc, unit="img", disable=not progress)):
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise FileNotFoundError(f"missing image {p}") from None
        except OSError as e:
            raise ValueError(f"cannot decode image {p}: {e}") from e
        if arr.shape != (_TINY_SIZE, _TINY_SIZE, 3):
            raise ValueError(f"image {p} has shape {arr.shape}, expected (64, 64, 3)")
        out[i] = arr
    return out


def _cache_key(d: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(d)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _load_tiny_imagenet(root: Path, *, progress: bool) -> RawDataset:
    d = root / "tiny-imagenet-200"
    if not d.is_dir():
        raise FileNotFoundError(
            f"Tiny ImageNet not found: expected directory {d}. Download the official "
            "'tiny-imagenet-200.zip' from the Stanford CS231n course site and extract it into "
            f"{root} so that {d} exists. umalib never downloads it itself."
        )
    wnids, train, val = _tiny_index(d)
    classes = _tiny_classes(d, wnids)
    y_train = np.array([y for _, y in train], dtype=np.int64)
    y_test = np.array([y for _, y in val], dtype=np.int64)

    # Decoding ~110k JPEGs takes minutes; cache the pixels keyed by every input file's
    # size and mtime so that any change to the tree invalidates the cache.
    try:
        key = _cache_key(d, [d / "wnids.txt", d / "val" / "val_annotations.txt"]
                         + [p for p, _ in train] + [p for p, _ in val])
    except FileNotFoundError as e:
        raise FileNotFoundError(f"missing image {e.filename}") from None
    cache = d / f"{_CACHE_PREFIX}{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                x_train, x_test = z["x_train"], z["x_test"]
            if x_train.shape[0] == len(y_train) and x_test.shape[0] == len(y_test):
                return RawDataset("tiny-imagenet", x_train, y_train, x_test, y_test, classes, str(d))
        except (OSError, ValueError, KeyError) as e:
            warnings.warn(f"ignoring unreadable cache {cache}: {e}", stacklevel=3)

    x_train = _decode_jpegs(train, "tiny-imagenet train", progress)
    x_test = _decode_jpegs(val, "tiny-imagenet val", progress)
    _write_cache(d, cache, x_train, x_test)
    return RawDataset("tiny-imagenet", x_train, y_train, x_test, y_test, classes, str(d))


def _write_cache(d: Path, cache: Path, x_train: np.ndarray, x_test: np.ndarray) -> None:
    """Atomically write the decoded arrays; a read-only data directory just skips caching."""
    try:
        atomic_write(cache, lambda tmp: _savez(tmp, x_train, x_test))
        for old in d.glob(f"{_CACHE_PREFIX}*.npz"):
            if old != cache:
                old.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(f"could not write Tiny ImageNet cache in {d}: {e}", stacklevel=3)


def _savez(path: str, x_train: np.ndarray, x_test: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
        np.savez(f, x_train=x_train, x_test=x_test)
