"""A small ImageNet-1k tree in the official layout (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG)
built from the real ImageNet sample images in tests/fixtures/images (foolbox's 64x64 copies)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

FIXTURES = Path(__file__).parent / "fixtures" / "images"


def fixture_images() -> list[tuple[int, Image.Image]]:
    """(ImageNet label, RGB image) of every imagenet_<i>_<label>.png fixture."""
    out = []
    for p in sorted(FIXTURES.glob("imagenet_*.png")):
        with Image.open(p) as im:
            out.append((int(p.stem.split("_")[2]), im.convert("RGB")))
    return out


def _variants(im: Image.Image) -> list[Image.Image]:
    """Distinct real-pixel views of one image: itself, mirrored, flipped, cropped, rotated."""
    w, h = im.size
    return [im, ImageOps.mirror(im), ImageOps.flip(im), im.crop((4, 4, w - 4, h - 4)),
            im.rotate(90), ImageOps.mirror(im.rotate(90)), im.crop((0, 0, w - 8, h))]


def make_imagenet_tree(root: Path, train_per_class: int = 4, val_per_class: int = 3) -> list[str]:
    """Write the tree under ``root``; returns the sorted wnids (class i = wnids[i]). One wnid per
    fixture label (n000<label>); classes with two fixtures use both."""
    by_label: dict[int, list[Image.Image]] = {}
    for label, im in fixture_images():
        by_label.setdefault(label, []).append(im)
    wnids = []
    for label, ims in sorted(by_label.items()):
        wnid = f"n{label:08d}"
        wnids.append(wnid)
        views = [v for im in ims for v in _variants(im)]
        for split, n, start in (("train", train_per_class, 0), ("val", val_per_class, train_per_class)):
            d = root / split / wnid
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                views[(start + i) % len(views)].save(d / f"{wnid}_{split}_{i}.JPEG", quality=90)
    return sorted(wnids)
