"""Load classifiers that umalib did not build, for the verifier (``python -m umalib verify``).

Four routes, all returning an ``nn.Module`` that maps images in [0, 1] to logits:

- ``"auto"`` / ``"cnn"`` / ``"resnet18"`` / ``"resnet50"``: umalib's own architectures; the
  architecture, width, class count, input channels and image size are read from the
  checkpoint's tensor shapes (no ``--width`` to guess).
- ``"torchvision:NAME"``: any torchvision classifier (``resnet18``, ``vgg11_bn``, ...), with
  ``cifar_stem=True`` for the 3x3 stride-1 stem without max-pool of the SalUn / Sparse reference
  code. Checkpoints in that code's layout (``normalize.mean`` / ``normalize.std`` buffers first,
  then ``conv1``, ``bn1``, ``layer1``..``layer4``, ``fc``) load directly.
- ``"package.module:factory"``: a user's own class, called as ``factory(num_classes=K)``.
- TorchScript (``torch.jit.save``) and ``torch.export`` (``torch.export.save``) files carry
  their architecture and load without any Python class (``arch`` is ignored for them).
  TorchScript archives are read by TorchScript's own loader, which builds no Python objects.
  ``torch.export.load`` unpickles parts of the archive with ``weights_only=False``, which can
  run code, so such a file is refused unless the caller passes ``trust_program=True``.

Weight files are read with ``torch.load(weights_only=True)`` only (:func:`umalib.cache.safe_load`);
the common wrappers (``state_dict``, ``model_state_dict``, ``model_state``, ``model`` beside
``epoch`` / ``optimizer`` entries) and the ``module.`` prefix of DataParallel are undone.
"""

from __future__ import annotations

import importlib
import math
import re
import zipfile
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..cache import safe_load
from ..config import ARCHS
from .classifiers import Normalize, build_model

__all__ = ["WRAPPER_KEYS", "unwrap_state_dict", "infer_umalib_arch", "program_kind",
           "load_classifier", "NormalizedNet", "num_classes_of"]

# Keys under which training scripts commonly store the weights beside their training state.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "net")
# Prefixes added by DataParallel / DistributedDataParallel and torch.compile.
_PREFIXES = ("module.", "_orig_mod.")


def _is_state(obj: object) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def unwrap_state_dict(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state_dict inside a loaded checkpoint ``obj``.

    Accepts a plain mapping of names to tensors or one wrapped under one of
    :data:`WRAPPER_KEYS` (other entries such as ``epoch`` or ``optimizer`` are ignored), and
    strips a ``module.`` / ``_orig_mod.`` prefix carried by every key. Raises ValueError naming
    the keys found when no state_dict is there, or when a tensor holds NaN/inf.
    """
    state = obj
    if not _is_state(obj) and isinstance(obj, dict):
        found = [k for k in WRAPPER_KEYS if _is_state(obj.get(k))]
        if not found:
            keys = ", ".join(map(repr, list(obj)[:8]))
            raise ValueError(f"{source} holds no state_dict: expected a mapping of names to "
                             f"tensors, or one under {'/'.join(WRAPPER_KEYS)}; found keys {keys}")
        state = obj[found[0]]
    if not _is_state(state):
        raise ValueError(f"{source} does not hold a state_dict (a mapping of names to tensors), "
                         f"got {type(obj).__name__}")
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{source} has NaN/inf values in {bad[:5]}{' ...' if len(bad) > 5 else ''}")
    return dict(state)


def num_classes_of(state: dict[str, torch.Tensor]) -> int:
    """Class count of a classifier's state: rows of ``fc.weight``, else of the last 2-D weight."""
    if "fc.weight" in state:
        return int(state["fc.weight"].shape[0])
    mats = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    if not mats:
        raise ValueError("cannot tell the class count: the state has no linear layer weight")
    return int(mats[-1].shape[0])


def infer_umalib_arch(state: dict[str, torch.Tensor]) -> dict:
    """``{"arch", "width", "num_classes", "in_channels", "image_size"}`` of a umalib classifier's
    state (image_size None for the size-agnostic ResNets). ValueError when the keys are not
    umalib's, with a hint at the torchvision route for the reference layout."""
    if "conv.0.weight" in state and "hidden.weight" in state:
        w = state["conv.0.weight"]
        width, cin = int(w.shape[0]), int(w.shape[1])
        cells = state["hidden.weight"].shape[1] / (2 * width)  # (image_size / 4) ** 2
        side = math.isqrt(int(cells))
        if side * side != cells:
            raise ValueError("cnn checkpoint: hidden layer size does not match a square image")
        return {"arch": "cnn", "width": width, "num_classes": num_classes_of(state),
                "in_channels": cin, "image_size": 4 * side}
    if "stem.0.weight" in state:
        w = state["stem.0.weight"]
        arch = "resnet50" if any(k.endswith("conv3.weight") for k in state) else "resnet18"
        return {"arch": arch, "width": int(w.shape[0]), "num_classes": num_classes_of(state),
                "in_channels": int(w.shape[1]), "image_size": None}
    hint = (" It looks like a torchvision-style ResNet (conv1/layer1..layer4/fc): use "
            "--arch torchvision:resnet18 (or resnet50), with --cifar-stem for a 3x3 first "
            "convolution." if "conv1.weight" in state and "layer1.0.conv1.weight" in state else "")
    raise ValueError("the checkpoint's keys are not those of a umalib classifier "
                     f"(first keys: {', '.join(list(state)[:4])}).{hint}")


def program_kind(path: Path) -> str | None:
    """"torchscript" or "export" when ``path`` is such a program archive, else None."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("archive_format") for n in names) or any("/models/" in n and n.endswith(".json")
                                                               for n in names):
        return "export"
    return None


class NormalizedNet(nn.Module):
    """``net(normalize(x))``: a network that expects normalised inputs, fed images in [0, 1] so
    that the attack budget stays in pixel space. ``normalize`` is the identity when no
    statistics are known (the network is assumed to take [0, 1] inputs)."""

    def __init__(self, net: nn.Module, mean: Sequence[float] | None,
                 std: Sequence[float] | None) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std) if mean is not None else nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def _stats_from_state(state: dict[str, torch.Tensor], normalize: tuple | None, source: str
                      ) -> tuple[tuple | None, dict[str, torch.Tensor]]:
    """(mean, std) from ``normalize.mean/std`` buffers in ``state`` or from ``normalize``, and
    the state without those buffers."""
    rest = {k: v for k, v in state.items() if not k.startswith("normalize.")}
    if "normalize.mean" in state and "normalize.std" in state:
        stored = (tuple(state["normalize.mean"].flatten().tolist()),
                  tuple(state["normalize.std"].flatten().tolist()))
        if normalize is not None and not all(
                torch.allclose(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                               atol=1e-4) for a, b in zip(stored, normalize)):
            raise ValueError(f"{source}: --normalize {normalize} contradicts the checkpoint's own "
                             f"normalize buffers {stored}; drop --normalize")
        return stored, rest
    return normalize, rest


def _torchvision_net(name: str, num_classes: int, cifar_stem: bool, in_channels: int) -> nn.Module:
    import torchvision

    try:
        net = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    except (ValueError, KeyError):
        known = ", ".join(torchvision.models.list_models(module=torchvision.models)[:12])
        raise ValueError(f"--arch torchvision:{name}: not a torchvision classifier (e.g. {known}, ...)") from None
    if cifar_stem or in_channels != 3:
        if not (hasattr(net, "conv1") and hasattr(net, "maxpool")):
            raise ValueError(f"--cifar-stem / {in_channels}-channel input is only supported for "
                             f"torchvision ResNets, not {name}")
        old = net.conv1
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, old.out_channels, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        else:
            net.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride,
                                  old.padding, bias=False)
    return net


def _factory(spec: str) -> Callable[..., nn.Module]:
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr or not re.fullmatch(r"[\w.]+", mod_name + "." + attr):
        raise ValueError(f"--arch {spec!r}: expected package.module:factory")
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"--arch {spec!r}: cannot import {mod_name} ({e})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"--arch {spec!r}: {mod_name} has no attribute {attr}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"--arch {spec!r}: {attr} is not callable")
    return obj


def _load_strict(net: nn.Module, state: dict[str, torch.Tensor], source: str, what: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise ValueError(f"{source} does not fit {what}: {' '.join(lines[:3])[:400]}") from None


def load_classifier(path: str | Path, arch: str = "auto", *, cifar_stem: bool = False,
                    normalize: tuple[Sequence[float], Sequence[float]] | None = None,
                    num_classes: int | None = None, trust_program: bool = False
                    ) -> tuple[nn.Module, dict]:
    """Load the classifier in ``path`` by one of the module docstring's routes.

    Args:
        path: a weights file (state_dict, possibly wrapped) or a TorchScript / torch.export file.
        arch: "auto" (a umalib classifier, or a program file), one of umalib's ARCHS,
            "torchvision:NAME", or "package.module:factory".
        cifar_stem: torchvision ResNets only: 3x3 stride-1 first convolution, no max-pool.
        normalize: (mean, std) per channel for networks that expect normalised inputs and do not
            store ``normalize.*`` buffers; the returned model then takes images in [0, 1].
        num_classes: for user factories whose state has no linear layer (else read from it).
        trust_program: allow ``torch.export`` files, whose loader can run code they carry.
    Returns:
        (model in eval mode on the CPU, info) where info has "route", "arch", "num_classes"
        (None for programs) and, for umalib models, "width", "in_channels", "image_size".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    source = str(path)
    kind = program_kind(path)
    if kind == "torchscript":
        try:
            net = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as e:
            raise ValueError(f"{source}: unreadable TorchScript file: {str(e).splitlines()[0]}") from None
        model = NormalizedNet(net, *(normalize or (None, None)))
        return model.eval(), {"route": "torchscript", "arch": "torchscript", "num_classes": None}
    if kind == "export":
        if not trust_program:
            raise ValueError(f"{source} is a torch.export program; torch.export.load unpickles "
                             f"parts of it without weights_only, which can run code. Pass "
                             f"--trust-program (trust_program=True) only for files from a source "
                             f"you trust, or save a TorchScript file or a state_dict instead")
        try:
            program = torch.export.load(str(path))
        except Exception as e:  # noqa: BLE001 - any failure of a foreign file is a refusal
            raise ValueError(f"{source}: unreadable torch.export file: {str(e).splitlines()[0]}") from None
        model = NormalizedNet(program.module(), *(normalize or (None, None)))
        return model, {"route": "export", "arch": "torch.export", "num_classes": None}

    state = unwrap_state_dict(safe_load(path), source)
    if arch in ("auto",) + tuple(ARCHS):
        info = infer_umalib_arch(state)
        if arch != "auto" and arch != info["arch"]:
            raise ValueError(f"{source} holds a umalib {info['arch']}, not {arch}")
        if normalize is not None:
            raise ValueError("--normalize: umalib classifiers store their own statistics")
        c = info["in_channels"]
        model = build_model(info["arch"], in_channels=c, num_classes=info["num_classes"],
                            image_size=info["image_size"] or 32, mean=[0.0] * c, std=[1.0] * c,
                            width=info["width"])
        _load_strict(model, state, source, f"umalib {info['arch']} (width {info['width']})")
        return model.eval(), {"route": "umalib", **info}
    stats, rest = _stats_from_state(state, normalize, source)
    k = num_classes or num_classes_of(rest)
    if arch.startswith("torchvision:"):
        name = arch.split(":", 1)[1]
        cin = int(rest["conv1.weight"].shape[1]) if "conv1.weight" in rest else 3
        net = _torchvision_net(name, k, cifar_stem, cin)
        what = f"torchvision {name}{' with the CIFAR stem' if cifar_stem else ''}"
        route = "torchvision"
    elif ":" in arch:
        if cifar_stem:
            raise ValueError("--cifar-stem applies to torchvision ResNets only")
        net = _factory(arch)(num_classes=k)
        if not isinstance(net, nn.Module):
            raise ValueError(f"--arch {arch}: the factory returned {type(net).__name__}, not an nn.Module")
        what, route = arch, "factory"
    else:
        raise ValueError(f"--arch must be auto, one of {ARCHS}, torchvision:NAME or "
                         f"package.module:factory, got {arch!r}")
    _load_strict(net, rest, source, what)
    model = NormalizedNet(net, *(stats or (None, None)))
    return model.eval(), {"route": route, "arch": arch, "num_classes": k,
                          "normalize": stats is not None}
