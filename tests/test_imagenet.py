"""umalib.data.imagenet: the seeded ImageNet-1k sample of the paper's MAE experiment, on a small
tree of real ImageNet images in the official folder layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from umalib.data.imagenet import data_path, index_split, load_image, load_imagenet_sample

from imagenet_tree import fixture_images, make_imagenet_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    return root, make_imagenet_tree(root)


def test_index_uses_sorted_wnids(tree):
    root, wnids = tree
    got, files = index_split(root, "train")
    assert got == wnids and len(wnids) == 7
    assert len(files) == 7 * 4
    assert all(p.parent.name == wnids[c] for p, c in files)


def test_sample_sides_sizes_and_determinism(tree):
    root, _ = tree
    kw = dict(forget_classes=(0, 1), train_forget=5, train_retain=6, test_per_side=4, size=32,
              root=root, progress=False)
    a = load_imagenet_sample(seed=0, **kw)
    b = load_imagenet_sample(seed=0, **kw)
    c = load_imagenet_sample(seed=1, **kw)
    assert a.x_train.shape == (11, 3, 32, 32) and a.x_train.dtype == torch.uint8
    forget_train = torch.isin(a.y_train, torch.tensor([0, 1]))
    assert int(forget_train.sum()) == 5 and int((~forget_train).sum()) == 6
    forget_test = torch.isin(a.y_test, torch.tensor([0, 1]))
    assert int(forget_test.sum()) == 4 and int((~forget_test).sum()) == 4
    assert torch.equal(a.x_train, b.x_train) and a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
    assert a.num_classes == 7 and a.x_val.shape[0] == 0
    # shuffled: the forget images are not all first
    assert not bool(forget_train[:5].all())


def test_sample_takes_all_when_short(tree):
    root, _ = tree
    sp = load_imagenet_sample(forget_classes=(3,), train_forget=100, train_retain=2,
                              test_per_side=100, size=16, seed=0, root=root, progress=False)
    assert int((sp.y_train == 3).sum()) == 4  # all the class has
    assert int((sp.y_test == 3).sum()) == 3


def test_image_preprocessing_is_resize_and_centre_crop(tmp_path):
    # a wide image with a distinct centre: the crop keeps the centre, drops the sides
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, 30:50] = 255
    Image.fromarray(arr).save(tmp_path / "w.png")
    out = load_image(tmp_path / "w.png", 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    assert out[:, 8:12].mean() > 200 and out[:, :2].mean() < 30
    # greyscale and CMYK files come out as RGB
    Image.fromarray(arr[..., 0]).save(tmp_path / "g.jpg")
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "c.jpg")
    assert load_image(tmp_path / "g.jpg", 20).shape == (20, 20, 3)
    assert load_image(tmp_path / "c.jpg", 20).shape == (20, 20, 3)


def test_real_images_match_torchvision_eval_transform(tmp_path):
    # the MAE's evaluation transform, as torchvision writes it: Resize(size*256/224, bicubic)
    # on the shorter side, then CenterCrop(size)
    from torchvision import transforms

    ims = [im for _, im in fixture_images()[:3]]
    ims += [ims[0].crop((0, 0, 64, 41)), ims[1].crop((0, 0, 37, 64))]  # landscape, portrait
    for i, im in enumerate(ims):
        im.save(tmp_path / f"{i}.JPEG", quality=95)
        with Image.open(tmp_path / f"{i}.JPEG") as src:
            ref = transforms.Compose([
                transforms.Resize(round(48 * 256 / 224), interpolation=transforms.InterpolationMode.BICUBIC),
                transforms.CenterCrop(48)])(src.convert("RGB"))
        assert np.array_equal(load_image(tmp_path / f"{i}.JPEG", 48), np.asarray(ref))


def test_errors(tmp_path, tree):
    root, _ = tree
    with pytest.raises(FileNotFoundError, match="ILSVRC2012"):
        load_imagenet_sample(forget_classes=(0,), train_forget=1, train_retain=1, test_per_side=1,
                             size=8, seed=0, root=tmp_path / "none", progress=False)
    flat = tmp_path / "flat"
    (flat / "train" / "n1").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(flat / "train" / "n1" / "a.JPEG")
    (flat / "val").mkdir()
    Image.new("RGB", (8, 8)).save(flat / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(ValueError, match="one folder per class"):
        index_split(flat, "val")
    with pytest.raises(ValueError, match="class indices below 7"):
        load_imagenet_sample(forget_classes=(7,), train_forget=1, train_retain=1, test_per_side=1,
                             size=8, seed=0, root=root, progress=False)
    with pytest.raises(ValueError, match="train_forget"):
        load_imagenet_sample(forget_classes=(0,), train_forget=0, train_retain=1, test_per_side=1,
                             size=8, seed=0, root=root, progress=False)
    bad = tmp_path / "bad"
    (bad / "n1").mkdir(parents=True)
    (bad / "n1" / "x.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(bad / "n1" / "x.JPEG", 8)


def test_data_path_is_under_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("UMALIB_DATA", str(tmp_path))
    assert data_path("vit-mae-base") == tmp_path / "vit-mae-base"
    assert data_path(tmp_path / "x") == tmp_path / "x"
