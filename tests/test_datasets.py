"""Tests for umalib.data.readers: exact-format fixtures are built in tmp_path from the real sample images
in tests/fixtures/images (see its README)."""

from __future__ import annotations

import builtins
import gzip
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from umalib.data import readers as D

FIXTURES = Path(__file__).parent / "fixtures" / "images"

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp
lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit
raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel
streetcar sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip
turtle wardrobe whale willow_tree wolf woman worm""".split()
CIFAR100_COARSE = """aquatic_mammals fish flowers food_containers fruit_and_vegetables
household_electrical_devices household_furniture insects large_carnivores
large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores
medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1
vehicles_2""".split()
# Official CIFAR-100 fine -> coarse label table (only used to fill b'coarse_labels' faithfully).
FINE_TO_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]
# ImageNet-1k class index -> (wnid, words.txt entry) for the sample images.
IMAGENET = {
    243: ("n02108422", "bull mastiff"),
    559: ("n03376595", "folding chair"),
    438: ("n02815834", "beaker"),
    990: ("n12768682", "buckeye, horse chestnut, conker"),
    949: ("n07745940", "strawberry"),
    853: ("n04417672", "thatch, thatched roof"),
    609: ("n03594945", "jeep, landrover"),
}


def _samples(prefix: str) -> list[tuple[Path, np.ndarray, int]]:
    """(path, uint8 HxWx3 pixels, label) for fixture images named <prefix>_<i>_<label>.png."""
    pat = re.compile(rf"{prefix}_(\d+)_(\d+)\.png")
    out = []
    for p in sorted(FIXTURES.iterdir()):
        m = pat.fullmatch(p.name)
        if m:
            with Image.open(p) as im:
                out.append((p, np.asarray(im.convert("RGB")), int(m.group(2))))
    assert out, f"no {prefix} fixtures in {FIXTURES}"
    return out


def _dump(obj: object, path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # protocol of the official files


def _rows(imgs: list[np.ndarray]) -> np.ndarray:
    """HWC uint8 images -> official (N, 3072) channel-major rows."""
    return np.stack(imgs).transpose(0, 3, 1, 2).reshape(len(imgs), -1).copy()


def _batch(samples, label_key: bytes, batch_label: str, extra: dict | None = None) -> dict:
    d = {
        b"batch_label": batch_label.encode(),
        label_key: [lab for _, _, lab in samples],
        b"data": _rows([x for _, x, _ in samples]),
        b"filenames": [p.name.encode() for p, _, _ in samples],
    }
    d.update(extra or {})
    return d


@pytest.fixture
def cifar10_root(tmp_path: Path) -> tuple[Path, list, list]:
    s = _samples("cifar10")
    assert len(s) == 20
    train, test = s[:15], s[15:]
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i in range(5):
        chunk = train[3 * i: 3 * i + 3]
        _dump(_batch(chunk, b"labels", f"training batch {i + 1} of 5"), d / f"data_batch_{i + 1}")
    _dump(_batch(test, b"labels", "testing batch 1 of 1"), d / "test_batch")
    _dump({b"num_cases_per_batch": 3, b"label_names": [n.encode() for n in CIFAR10_NAMES],
           b"num_vis": 3072}, d / "batches.meta")
    return tmp_path, train, test


@pytest.fixture
def cifar100_root(tmp_path: Path) -> tuple[Path, list, list]:
    s = _samples("cifar100")
    assert len(s) == 20
    train, test = s[:14], s[14:]
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name, part in (("train", train), ("test", test)):
        coarse = {b"coarse_labels": [FINE_TO_COARSE[lab] for _, _, lab in part]}
        _dump(_batch(part, b"fine_labels", f"{name}ing batch 1 of 1", coarse), d / name)
    _dump({b"fine_label_names": [n.encode() for n in CIFAR100_FINE],
           b"coarse_label_names": [n.encode() for n in CIFAR100_COARSE]}, d / "meta")
    return tmp_path, train, test


def test_cifar_name_tables_are_complete():
    assert len(CIFAR100_FINE) == 100 and len(set(CIFAR100_FINE)) == 100
    assert len(CIFAR100_COARSE) == 20 and sorted(set(FINE_TO_COARSE)) == list(range(20))


def test_cifar10_exact_pixels(cifar10_root):
    root, train, test = cifar10_root
    ds = D.load_raw("cifar10", root)
    assert ds.name == "cifar10"
    assert ds.source == str(root / "cifar-10-batches-py")
    assert ds.classes == tuple(CIFAR10_NAMES)
    assert ds.x_train.dtype == np.uint8 and ds.x_test.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(ds.x_train, np.stack([x for _, x, _ in train]))
    np.testing.assert_array_equal(ds.x_test, np.stack([x for _, x, _ in test]))
    np.testing.assert_array_equal(ds.y_train, [lab for _, _, lab in train])
    np.testing.assert_array_equal(ds.y_test, [lab for _, _, lab in test])
    # First CIFAR-10 test images are cat, ship, ship, airplane.
    assert [ds.classes[y] for y in ds.y_train[:4]] == ["cat", "ship", "ship", "airplane"]


def test_cifar100_exact_pixels(cifar100_root):
    root, train, test = cifar100_root
    ds = D.load_raw("cifar100", root)
    assert ds.classes == tuple(CIFAR100_FINE)
    assert ds.x_train.shape == (14, 32, 32, 3) and ds.x_test.shape == (6, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train, np.stack([x for _, x, _ in train]))
    np.testing.assert_array_equal(ds.x_test, np.stack([x for _, x, _ in test]))
    np.testing.assert_array_equal(ds.y_train, [lab for _, _, lab in train])
    np.testing.assert_array_equal(ds.y_test, [lab for _, _, lab in test])
    assert ds.classes[ds.y_train[0]] == "mountain"


def test_data_dir_from_env(cifar10_root, monkeypatch):
    root, train, _ = cifar10_root
    monkeypatch.setenv("UMALIB_DATA", str(root))
    ds = D.load_raw("cifar10")
    assert ds.source == str(root / "cifar-10-batches-py") and len(ds.y_train) == len(train)


@pytest.mark.parametrize("name, dirname", [("cifar10", "cifar-10-batches-py"),
                                           ("cifar100", "cifar-100-python")])
def test_missing_cifar_dir(tmp_path, name, dirname):
    with pytest.raises(FileNotFoundError) as e:
        D.load_raw(name, tmp_path)
    msg = str(e.value)
    assert str(tmp_path / dirname) in msg and "python version" in msg


def test_missing_cifar_batch_file(cifar10_root):
    root, _, _ = cifar10_root
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        D.load_raw("cifar10", root)


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("func", [os.system, builtins.eval, builtins.exec])
def test_malicious_pickle_is_refused(cifar10_root, func):
    root, _, _ = cifar10_root
    marker = root / "pwned"
    cmd = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w').close()"
    batch = _load_official(root / "cifar-10-batches-py" / "data_batch_2")
    batch[b"labels"] = _Evil(func, cmd)
    _dump(batch, root / "cifar-10-batches-py" / "data_batch_2")
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        D.load_raw("cifar10", root)
    assert not marker.exists()


def _load_official(path: Path) -> dict:
    with open(path, "rb") as f:
        return D._RestrictedUnpickler(f, encoding="bytes").load()


def test_numpy1_module_names_accepted(cifar10_root):
    # The official files were written with numpy 1, whose pickles name numpy.core.multiarray.
    root, train, _ = cifar10_root
    p = root / "cifar-10-batches-py" / "data_batch_1"
    raw = p.read_bytes()
    assert b"cnumpy._core.multiarray\n_reconstruct\n" in raw
    p.write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    ds = D.load_raw("cifar10", root)
    np.testing.assert_array_equal(ds.x_train[:3], np.stack([x for _, x, _ in train[:3]]))


def test_non_uint8_cifar_data_rejected(cifar10_root):
    root, _, _ = cifar10_root
    p = root / "cifar-10-batches-py" / "test_batch"
    batch = _load_official(p)
    batch[b"data"] = batch[b"data"].astype(np.float32)
    _dump(batch, p)
    with pytest.raises(ValueError, match="uint8"):
        D.load_raw("cifar10", root)


# --- Fashion-MNIST -------------------------------------------------------------------------------

def test_fashion_mnist_system_package():
    if D._find_idx_files(D._SYSTEM_FMNIST_DIR) is None:
        pytest.skip(f"{D._SYSTEM_FMNIST_DIR} absent: install Debian package dataset-fashion-mnist")
    ds = D.load_raw("fashion-mnist")
    assert ds.source == str(D._SYSTEM_FMNIST_DIR)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), [1000] * 10)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and len(ds.classes) == 10
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0


def _idx_bytes(arr: np.ndarray) -> bytes:
    head = (0x0800 | arr.ndim).to_bytes(4, "big")
    head += b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _grey_samples() -> tuple[np.ndarray, np.ndarray]:
    s = _samples("cifar10")
    x = np.stack([np.asarray(Image.open(p).convert("L"))[2:30, 2:30] for p, _, _ in s])
    return x, np.array([lab for _, _, lab in s])


def _write_fmnist(d: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = _grey_samples()
    d.mkdir(parents=True)
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(x[:12])))
    (d / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(y[:12]))
    (d / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(x[12:]))
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(y[12:])))
    return x, y


@pytest.fixture
def no_system_fmnist(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "_SYSTEM_FMNIST_DIR", tmp_path / "no-such-system-dir")
    monkeypatch.setattr(D, "_download_fashion_mnist", lambda root: False)


@pytest.mark.parametrize("sub", ["fashion-mnist", "FashionMNIST/raw"])
def test_fashion_mnist_from_data_dir(tmp_path, no_system_fmnist, sub):
    x, y = _write_fmnist(tmp_path / sub)
    ds = D.load_raw("fashion-mnist", tmp_path)
    assert ds.source == str(tmp_path / sub)
    np.testing.assert_array_equal(ds.x_train[..., 0], x[:12])
    np.testing.assert_array_equal(ds.x_test[..., 0], x[12:])
    np.testing.assert_array_equal(ds.y_train, y[:12])
    assert ds.x_train.shape == (12, 28, 28, 1) and ds.y_test.dtype == np.int64


def test_fashion_mnist_truncated_idx(tmp_path, no_system_fmnist):
    _write_fmnist(tmp_path / "fashion-mnist")
    p = tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*truncated"):
        D.load_raw("fashion-mnist", tmp_path)


def test_fashion_mnist_bad_magic_and_bad_gzip(tmp_path, no_system_fmnist):
    _write_fmnist(tmp_path / "fashion-mnist")
    p = tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte"
    p.write_bytes(b"\x00\x00\x08\x03" + p.read_bytes()[4:])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*magic"):
        D.load_raw("fashion-mnist", tmp_path)
    p.unlink()
    g = tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    g.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x14" + bytes(20))[:-9])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        D.load_raw("fashion-mnist", tmp_path)


def test_fashion_mnist_missing_names_every_path(tmp_path, no_system_fmnist):
    with pytest.raises(FileNotFoundError) as e:
        D.load_raw("fashion-mnist", tmp_path)
    msg = str(e.value)
    for p in (D._SYSTEM_FMNIST_DIR, tmp_path / "fashion-mnist", tmp_path / "FashionMNIST" / "raw"):
        assert str(p) in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg


# --- Tiny ImageNet ------------------------------------------------------------------------------

@pytest.fixture
def tiny_root(tmp_path: Path):
    s = _samples("imagenet")
    assert {lab for _, _, lab in s} == set(IMAGENET)
    wnids = [IMAGENET[k][0] for k in (853, 243, 990, 609, 438, 949, 559)]  # deliberately unsorted
    d = tmp_path / "tiny-imagenet-200"
    (d / "val" / "images").mkdir(parents=True)
    (d / "wnids.txt").write_text("\n".join(wnids) + "\n")
    words = [("n00001740", "entity"), *IMAGENET.values(), ("n99999999", "unused synset")]
    (d / "words.txt").write_text("".join(f"{w}\t{t}\n" for w, t in words))
    train_files: dict[str, list[Path]] = {}
    for i, (_, x, lab) in enumerate(s):
        w = IMAGENET[lab][0]
        img_dir = d / "train" / w / "images"
        img_dir.mkdir(parents=True, exist_ok=True)
        k = len(train_files.setdefault(w, []))
        f = img_dir / f"{w}_{k}.JPEG"
        im = Image.fromarray(x)
        (im.convert("L") if i == 1 else im).save(f, quality=95)  # real set has some grey JPEGs
        train_files[w].append(f)
        with open(d / "train" / w / f"{w}_boxes.txt", "a") as fb:
            fb.write(f"{f.name}\t0\t3\t60\t62\n")
    val_src = [s[7], s[2], s[5], s[0]]
    ann = []
    for k, (_, x, lab) in enumerate(val_src):
        Image.fromarray(x).save(d / "val" / "images" / f"val_{k}.JPEG", quality=95)
        ann.append(f"val_{k}.JPEG\t{IMAGENET[lab][0]}\t1\t2\t61\t63\n")
    (d / "val" / "val_annotations.txt").write_text("".join(ann))
    return tmp_path, wnids, train_files, val_src


def _decoded(p: Path) -> np.ndarray:
    with Image.open(p) as im:
        return np.asarray(im.convert("RGB"))


def _mode(p: Path) -> str:
    with Image.open(p) as im:
        return im.mode


def test_tiny_imagenet_layout(tiny_root, monkeypatch):
    root, wnids, train_files, val_src = tiny_root
    d = root / "tiny-imagenet-200"
    ds = D.load_raw("tiny-imagenet", root, progress=False)
    assert ds.source == str(d)
    assert ds.classes == tuple(dict(IMAGENET.values())[w] for w in wnids)
    assert ds.x_train.shape == (8, 64, 64, 3) and ds.x_test.shape == (4, 64, 64, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    # Train order: class by wnids.txt order, then file name.
    exp_files = [(f, i) for i, w in enumerate(wnids) for f in sorted(train_files[w])]
    np.testing.assert_array_equal(ds.y_train, [i for _, i in exp_files])
    np.testing.assert_array_equal(ds.x_train, np.stack([_decoded(f) for f, _ in exp_files]))
    # Val order follows val_annotations.txt; labels via wnids.txt index.
    index = {w: i for i, w in enumerate(wnids)}
    np.testing.assert_array_equal(ds.y_test, [index[IMAGENET[lab][0]] for _, _, lab in val_src])
    # JPEG is lossy: close to the source PNG pixels.
    err = np.abs(ds.x_test.astype(int) - np.stack([x for _, x, _ in val_src]).astype(int))
    assert err.mean() < 4, err.mean()
    grey = [i for i, (f, _) in enumerate(exp_files) if _mode(f) == "L"]
    assert len(grey) == 1 and np.all(ds.x_train[grey[0]] == ds.x_train[grey[0]][..., :1])

    # Second load comes from the .npz cache (decoding disabled), identical arrays.
    assert len(list(d.glob("umalib-cache-*.npz"))) == 1

    def no_decode(*a, **k):
        raise AssertionError("cache not used")

    monkeypatch.setattr(D, "_decode_jpegs", no_decode)
    ds2 = D.load_raw("tiny-imagenet", root, progress=False)
    assert D.fingerprint(ds2) == D.fingerprint(ds)
    # Changing an image invalidates the cache.
    f0 = exp_files[0][0]
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(f0, quality=95)
    os.utime(f0, ns=(1, 1))
    with pytest.raises(AssertionError, match="cache not used"):
        D.load_raw("tiny-imagenet", root, progress=False)


def test_tiny_imagenet_errors(tiny_root):
    root, wnids, train_files, _ = tiny_root
    d = root / "tiny-imagenet-200"
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "x" / "tiny-imagenet-200"))):
        D.load_raw("tiny-imagenet", root / "x")
    big = train_files[wnids[0]][0]
    Image.new("RGB", (65, 64)).save(big)
    with pytest.raises(ValueError, match=re.escape(big.name)):
        D.load_raw("tiny-imagenet", root, progress=False)
    (d / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn00000000\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="n00000000"):
        D.load_raw("tiny-imagenet", root, progress=False)


# --- misc ---------------------------------------------------------------------------------------

def test_unknown_name():
    with pytest.raises(ValueError) as e:
        D.load_raw("mnist")
    for n in D.DATASETS:
        assert n in str(e.value)


def test_fingerprint_sensitive_to_one_pixel(cifar10_root):
    root, _, _ = cifar10_root
    ds = D.load_raw("cifar10", root)
    fp = D.fingerprint(ds)
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    same = D.RawDataset(ds.name, ds.x_train.copy(), ds.y_train.copy(), ds.x_test.copy(),
                        ds.y_test.copy(), ds.classes, "elsewhere")
    assert D.fingerprint(same) == fp  # source is not part of the content
    x = ds.x_test.copy()
    x[2, 5, 7, 1] ^= 1
    changed = D.RawDataset(ds.name, ds.x_train, ds.y_train, x, ds.y_test, ds.classes, ds.source)
    assert D.fingerprint(changed) != fp
    y = ds.y_train.copy()
    y[0] = (y[0] + 1) % 10
    assert D.fingerprint(D.RawDataset(ds.name, ds.x_train, y, ds.x_test, ds.y_test,
                                      ds.classes, ds.source)) != fp


def test_default_data_dir_is_the_repository_data_folder(monkeypatch):
    monkeypatch.delenv("UMALIB_DATA", raising=False)
    from umalib.cache import REPO_ROOT

    assert D._default_data_dir() == REPO_ROOT / "data"
