"""``python -m umalib verify``: verify a pair (or trio) of checkpoints with UMA.

    python -m umalib verify --original before.pt --unlearned after.pt [--retrained ref.pt]
        [--arch auto | cnn | resnet18 | torchvision:resnet18 [--cifar-stem] | pkg.mod:factory]
        [--normalize MEAN,STD] [--trust-program]
        [--dataset fashion-mnist | --data file.npz | --data-dir folder]
        (--forget-classes 0 | --forget-indices idx.txt)
        [--eps 8/255] [--strength standard|strong] [--eps-curve 2/255,4/255,8/255,16/255]
        [--json report.json] [--markdown report.md]

Every argument, file and model is checked before the attack starts; errors are one line on
stderr with exit status 2. The verdict and its rule are in the report (:mod:`umalib.verify`),
printed and written by :mod:`umalib.reporting.verify_report`.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import DATASETS
from ..verify import STRENGTHS, parse_eps_list, resolve_device

ROUTES = "auto (umalib's, read from the checkpoint), cnn, resnet18, resnet50, " \
         "torchvision:NAME, package.module:factory"


def _classes(text: str) -> list[int]:
    try:
        return [int(c) for c in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"classes must be integers, got {text!r}") from None


def add_arguments(v: argparse.ArgumentParser) -> None:
    """The verify subcommand's options."""
    m = v.add_argument_group("models")
    m.add_argument("--original", required=True, help="checkpoint of the model before unlearning")
    m.add_argument("--unlearned", required=True, help="checkpoint of the model after unlearning")
    m.add_argument("--retrained", default=None,
                   help="checkpoint of a model retrained without the forget set (the reference "
                        "that separates residual knowledge from generalisation)")
    m.add_argument("--arch", default="auto", help=f"one of: {ROUTES}. TorchScript / torch.export "
                   "files need none")
    m.add_argument("--cifar-stem", action="store_true",
                   help="torchvision ResNets: 3x3 stride-1 first conv, no max-pool (SalUn/Sparse code)")
    m.add_argument("--normalize", default=None, metavar="MEAN,STD",
                   help="the models expect (x - mean) / std: one MEAN,STD pair for all channels or "
                        "m1,..,mC,s1,..,sC; the budget stays in pixel space")
    m.add_argument("--trust-program", action="store_true",
                   help="allow torch.export files (their loader can run code they carry)")
    d = v.add_argument_group("data (one of)")
    d.add_argument("--dataset", default=None, help=f"built-in: one of {DATASETS} (default fashion-mnist)")
    d.add_argument("--data", default=None, help=".npz with x (N,H,W[,C] uint8 or [0,1]) and y "
                   "(optionally x_test, y_test)")
    d.add_argument("--data-dir", default=None,
                   help="folder with forget/, retain/ and test/ image folders (one sub-folder per class)")
    g = v.add_mutually_exclusive_group()
    g.add_argument("--forget-classes", type=_classes, default=None, help="e.g. 0 or 5,16,25")
    g.add_argument("--forget-indices", default=None,
                   help="file of indices (text/CSV or .npy) into the training set or --data")
    a = v.add_argument_group("attack and verdict")
    a.add_argument("--eps", default="8/255", help="L-inf budget, e.g. 8/255 or 0.03")
    a.add_argument("--strength", default="standard", choices=STRENGTHS,
                   help="standard = the paper's attack; strong adds restarts, momentum, larger "
                        "steps, success at any iterate, and a label-guided upper bound")
    a.add_argument("--eps-curve", default=None,
                   help="also report UA/MIA/residual at these budgets, e.g. 2/255,4/255,8/255,16/255,32/255")
    a.add_argument("--steps", type=int, default=100)
    a.add_argument("--step-size", default="1/255")
    a.add_argument("--max-samples", type=int, default=1000,
                   help="attack a seeded subset of this many forget samples (0 = all)")
    a.add_argument("--threshold", type=float, default=0.1,
                   help="verdict threshold on the residual (or mapped-back) share")
    a.add_argument("--mia-shadow", type=int, default=3000,
                   help="MIA shadow set size per side (0 = all of retain/test)")
    a.add_argument("--relearn-steps", type=int, default=100,
                   help="relearning probe: UA after this many SGD steps on retain images only "
                        "(needs retain data; 0 = off)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--device", default="cpu")
    o = v.add_argument_group("output")
    o.add_argument("--json", default=None, help="write the report here as JSON (+ PNG of the curve)")
    o.add_argument("--markdown", default=None, help="write the report here as Markdown")
    o.add_argument("--no-progress", action="store_true")


def parse_normalize(text: str | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """"MEAN,STD" or "m1,..,mC,s1,..,sC" -> (mean, std); ValueError otherwise."""
    if text is None:
        return None
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"--normalize: numbers expected, got {text!r}") from None
    if len(vals) < 2 or len(vals) % 2 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"--normalize: give MEAN,STD or m1,..,mC,s1,..,sC, got {text!r}")
    mean, std = tuple(vals[:len(vals) // 2]), tuple(vals[len(vals) // 2:])
    if min(std) <= 0:
        raise ValueError(f"--normalize: std must be > 0, got {std}")
    return mean, std


def read_indices(path: str | Path, n: int) -> list[int]:
    """Forget indices from a text/CSV or .npy file, each in [0, n)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--forget-indices: no file at {path}")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"{path}: refused ({str(e).splitlines()[0]})") from None
    else:
        try:
            arr = np.array(path.read_text().replace(",", " ").split(), dtype=np.float64)
        except ValueError:
            raise ValueError(f"{path}: expected whitespace/comma separated integers") from None
    if arr.ndim != 1 or len(arr) == 0 or not np.issubdtype(arr.dtype, np.number) \
            or np.any(arr != np.round(arr)):
        raise ValueError(f"{path}: expected a non-empty list of integer indices")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{path}: indices must be in [0, {n}), got {int(arr.min())}..{int(arr.max())}")
    return sorted(set(int(i) for i in arr))


def _data(args) -> tuple[tuple, tuple | None, tuple | None, str | None, str]:
    """(forget, retain, test, scenario, description) from the data options; scenario None
    lets :func:`umalib.verify.verify` tell class-wise from instance-wise by the labels. Images
    stay uint8 where they are: ``verify`` converts only what it uses."""
    from ..data.user import load_image_dirs, load_npz, split_forget

    chosen = [o for o in ("dataset", "data", "data_dir") if getattr(args, o)]
    if len(chosen) > 1:
        raise ValueError("give one of --dataset, --data or --data-dir")
    if args.data_dir:
        if args.forget_classes or args.forget_indices:
            raise ValueError("--data-dir has its own forget/ folder: drop --forget-classes/--forget-indices")
        parts = load_image_dirs(args.data_dir)
        return parts["forget"], parts["retain"], parts.get("test"), None, args.data_dir
    if not (args.forget_classes or args.forget_indices):
        raise ValueError("give --forget-classes or --forget-indices")
    if args.data:
        arrays = load_npz(args.data)
        x, y = arrays["all"]
        idx = read_indices(args.forget_indices, len(y)) if args.forget_indices else None
        forget, retain, scen = split_forget(x, y, indices=idx, classes=args.forget_classes)
        return forget, retain, arrays.get("test"), scen, args.data
    from ..config import DataConfig
    from ..data.splits import load_splits

    name = args.dataset or "fashion-mnist"
    if name not in DATASETS:
        raise ValueError(f"--dataset must be one of {DATASETS}, got {name!r}")
    sp = load_splits(DataConfig(dataset=name, val_fraction=0.0), args.seed)
    idx = read_indices(args.forget_indices, len(sp.y_train)) if args.forget_indices else None
    forget, retain, scen = split_forget(sp.x_train, sp.y_train, indices=idx, classes=args.forget_classes)
    return forget, retain, (sp.x_test, sp.y_test), scen, name


def run(args: argparse.Namespace) -> int:
    """Validate, load, verify, print and save; 2 on a refusal."""
    from ..models.loading import load_classifier
    from ..reporting import verify_report
    from ..verify import verify

    try:
        for opt in ("original", "unlearned", "retrained"):
            p = getattr(args, opt)
            if p is not None and not Path(p).is_file():
                raise FileNotFoundError(f"--{opt}: no file at {p}")
        if args.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {args.steps}")
        if args.max_samples < 0:
            raise ValueError(f"--max-samples must be >= 0, got {args.max_samples}")
        if args.mia_shadow < 0:
            raise ValueError(f"--mia-shadow must be >= 0, got {args.mia_shadow}")
        if args.eps_curve:
            parse_eps_list(args.eps_curve)
        device = resolve_device(args.device)
        norm = parse_normalize(args.normalize)
        models = {}
        for opt in ("original", "unlearned", "retrained"):
            if getattr(args, opt):
                models[opt], _ = load_classifier(getattr(args, opt), args.arch,
                                                 cifar_stem=args.cifar_stem, normalize=norm,
                                                 trust_program=args.trust_program)
        forget, retain, test, scenario, source = _data(args)
        report = verify(models["original"], models["unlearned"], forget,
                        retrained=models.get("retrained"), retain=retain, test=test,
                        eps=args.eps, strength=args.strength, steps=args.steps,
                        step_size=args.step_size, max_samples=args.max_samples or None,
                        threshold=args.threshold, scenario=scenario, eps_curve=args.eps_curve,
                        mia_shadow=args.mia_shadow or None, seed=args.seed,
                        relearn_steps=args.relearn_steps, device=device,
                        progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report.models = {k: str(getattr(args, k)) for k in models} | {"data": str(source),
                                                                  "arch": args.arch}
    print(verify_report.text(report))
    for path in verify_report.save(report, args.json, args.markdown):
        print(f"written: {path}")
    return 0


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m umalib verify",
                                 description="Verify an unlearned classifier with UMA")
    add_arguments(ap)
    return run(ap.parse_args(list(argv)))
