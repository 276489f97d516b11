"""Adapter that drives a Hugging Face ViT-MAE (``transformers.ViTMAEForPreTraining``) like
:class:`umalib.models.mae.MAE`.

The paper's generative experiments use the official ``facebook/vit-mae-base`` ImageNet weights
(224x224x3, patch 16). :class:`HFMAE` gives that model umalib's interface: images in [0, 1],
boolean ``keep`` masks (N, L) over patches in row-major order (True = visible),
``forward(x, keep)`` -> reconstruction in [0, 1] and ``inpaint(x, keep)``, plus a ``cfg``
(:class:`~umalib.models.mae.MAEConfig`) so helpers such as :class:`~umalib.models.mae.Inpainter`,
:func:`~umalib.models.mae.keep_to_pixel_mask` and :func:`~umalib.models.mae.centre_square_keep`
work unchanged.

How the HF model is made to keep exactly the patches ``keep`` marks: ViT-MAE's random masking
sorts a per-patch ``noise`` tensor and keeps the ``int(L * (1 - config.mask_ratio))`` patches with
the lowest noise. We pass noise that is lower on every visible patch than on any masked one (and
increasing with the patch index inside each group, so the visible tokens reach the encoder in grid
order, as in umalib's MAE), and set ``mask_ratio`` for the duration of the call so that the kept
count is the number of visible patches.

``transformers`` is an optional dependency (``pip install 'umalib[hf]'``); this module imports it
only when a model is loaded.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import torch
from torch import Tensor, nn

from .mae import MAEConfig, _check_images, _check_keep, keep_to_pixel_mask, patchify, unpatchify

if TYPE_CHECKING:  # only for type checkers: transformers is optional at run time
    from transformers import ViTMAEForPreTraining

__all__ = [
    "HFMAE",
    "load_vit_mae",
    "empty_vit_mae",
    "read_vit_mae_config",
    "vit_mae_digest",
    "check_vit_mae_dir",
    "mae_config_from_hf",
    "keep_to_noise",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "HF_MODEL_ID",
]

HF_MODEL_ID = "facebook/vit-mae-base"
# torchvision / timm ImageNet statistics; the image processor of facebook/vit-mae-base uses these
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_INSTALL_HINT = "transformers is not installed; install the optional extra: pip install 'umalib[hf]'"
_DOWNLOAD_HINT = (f"download the official weights of {HF_MODEL_ID} from the Hugging Face hub "
                  f"(config.json and model.safetensors), e.g. "
                  f"`hf download {HF_MODEL_ID} config.json model.safetensors "
                  f"preprocessor_config.json --local-dir DIR` (`huggingface-cli download` on "
                  f"huggingface_hub < 1.0), and pass DIR")
# weight files from_pretrained reads, safest first; pickled .bin files go through
# torch.load(weights_only=True), which refuses arbitrary objects
_SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
_BIN_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def _square(value: int | Sequence[int], name: str) -> int:
    """HF configs allow int or (h, w) sizes; umalib's MAEConfig needs square ones."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or int(value[0]) != int(value[1]):
            raise ValueError(f"only square {name} are supported, got {value}")
        return int(value[0])
    return int(value)


def mae_config_from_hf(config: object) -> MAEConfig:
    """Build umalib's :class:`MAEConfig` from a ``transformers.ViTMAEConfig``.

    ``mask_ratio`` is the ratio the model was trained with (HF's default 0.75); the adapter
    overrides it per call from ``keep`` and never reads it from here.
    """
    return MAEConfig(
        image_size=_square(config.image_size, "image sizes"),
        channels=int(config.num_channels),
        patch_size=_square(config.patch_size, "patch sizes"),
        embed_dim=int(config.hidden_size),
        depth=int(config.num_hidden_layers),
        heads=int(config.num_attention_heads),
        decoder_dim=int(config.decoder_hidden_size),
        decoder_depth=int(config.decoder_num_hidden_layers),
        decoder_heads=int(config.decoder_num_attention_heads),
        mask_ratio=float(config.mask_ratio),
    )


def keep_to_noise(keep: Tensor) -> Tensor:
    """Bool keep (N, L) -> float noise (N, L) whose ascending argsort lists the visible patches
    first, each group in increasing patch index.

    Values are distinct (visible in [0, 1), masked in [1, 2)), so any argsort, stable or not,
    gives the same order.
    """
    L = keep.shape[1]
    rank = torch.arange(L, device=keep.device, dtype=torch.float32) / L
    return rank.expand_as(keep) + (~keep).float()


def _mask_ratio_for(k: int, L: int) -> float:
    """A mask_ratio with ``int(L * (1 - ratio)) == k`` exactly.

    (L - k) / L can land a rounding error below k after ``L * (1 - r)`` and ``int`` then gives
    k - 1; aiming half a patch above k is robust to that.
    """
    ratio = 0.0 if k >= L else (L - k - 0.5) / L
    if int(L * (1 - ratio)) != k:  # guards the arithmetic above
        raise RuntimeError(f"no mask_ratio keeps {k} of {L} patches")
    return ratio


def _read_image_stats(directory: Path) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """image_mean / image_std from an image processor's preprocessor_config.json, if present.

    Plain JSON: reading it runs no code.
    """
    path = directory / "preprocessor_config.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    mean, std = data.get("image_mean"), data.get("image_std")
    if mean is None or std is None:
        return None
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


class HFMAE(nn.Module):
    """A ``ViTMAEForPreTraining`` behind umalib's MAE interface (images in [0, 1]).

    Input images are normalised with ``mean`` / ``std`` (default: ImageNet statistics, which is
    what the image processor of ``facebook/vit-mae-base`` uses; :func:`load_vit_mae` reads them
    from ``preprocessor_config.json`` when the directory has one). The decoder's predicted
    patches (``logits``) are un-patchified, de-normalised and clamped to [0, 1].

    With ``config.norm_pix_loss`` the model predicts every patch normalised by its own mean and
    standard deviation (computed in the normalised pixel space, as in HF's loss), so the
    absolute intensity of a masked patch is not recoverable from the model. Convention used
    here: a visible patch is de-normalised with its own statistics (exact); a masked patch with
    the average, over the image's visible patches, of their per-patch means and standard
    deviations (mean and std 0 / 1 in normalised space when no patch is visible). Those
    statistics depend on the visible pixels only, so gradients still reach the visible context
    and never the masked pixels.

    Gradients flow from the output to the visible pixels of ``x``; masked pixels never reach
    the encoder, so their gradient is exactly zero (``inpaint`` copies visible pixels from
    ``x``, adding an identity path there).
    """

    def __init__(self, model: "ViTMAEForPreTraining", mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.cfg = mae_config_from_hf(model.config)
        c = self.cfg.channels
        if mean is None and std is None:
            if c != 3:
                raise ValueError(f"the model has {c} channels; pass mean and std (the ImageNet "
                                 f"defaults are for 3)")
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        if mean is None or std is None or len(mean) != c or len(std) != c:
            raise ValueError(f"mean and std must both be given with {c} values each")
        if any(float(s) <= 0 for s in std):
            raise ValueError("std must be positive")
        self.register_buffer("mean", torch.tensor([float(v) for v in mean]).reshape(1, c, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor([float(v) for v in std]).reshape(1, c, 1, 1),
                             persistent=False)

    # ------------------------------------------------------------------ parameters

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the encoder (``model.vit``)."""
        return list(self.model.vit.parameters())

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Parameters used only by the decoder (``model.decoder``)."""
        return list(self.model.decoder.parameters())

    # ------------------------------------------------------------------ helpers

    def normalise(self, x: Tensor) -> Tensor:
        """[0, 1] images -> the model's input space."""
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def denormalise(self, z: Tensor) -> Tensor:
        """Model input space -> [0, 1] scale (not clamped)."""
        return z * self.std.to(z.dtype) + self.mean.to(z.dtype)

    @contextmanager
    def _mask_ratio(self, ratio: float) -> Iterator[None]:
        # random_masking reads the ratio from the embeddings' config at call time; restore it so
        # the wrapped model is left as it was found
        config = self.model.vit.embeddings.config
        old = config.mask_ratio
        config.mask_ratio = ratio
        try:
            yield
        finally:
            config.mask_ratio = old

    def _ids_restore(self, keep: Tensor) -> Tensor:
        """The ``ids_restore`` HF's masking returns for :func:`keep_to_noise` (keep)."""
        return keep_to_noise(keep).argsort(dim=1).argsort(dim=1)

    # ------------------------------------------------------------------ model

    def encode(self, x: Tensor, keep: Tensor) -> Tensor:
        """x (N, C, H, W) in [0, 1], keep bool (N, L) -> latent (N, 1 + L_visible, hidden).

        Token 0 is [CLS]; tokens 1.. are the visible patches in grid order (as in umalib's MAE).
        """
        _check_images(x, self.cfg, "x")
        k = _check_keep(keep, self.cfg, x.shape[0])
        keep = keep.to(x.device)
        with self._mask_ratio(_mask_ratio_for(k, self.cfg.num_patches)):
            out = self.model.vit(pixel_values=self.normalise(x), noise=keep_to_noise(keep))
        # the mask HF applied must be the one asked for (0 = kept)
        if not torch.equal(out.mask == 0, keep):
            raise RuntimeError("the HF model kept other patches than keep marks visible")
        return out.last_hidden_state

    def decode_patches(self, latent: Tensor, keep: Tensor) -> Tensor:
        """latent from :meth:`encode` with the same keep -> raw predicted patches (N, L, p*p*C)
        in the model's output space (normalised pixels, per patch if ``norm_pix_loss``)."""
        k = _check_keep(keep, self.cfg, latent.shape[0])
        if latent.shape[1] != k + 1:
            raise ValueError(f"latent has {latent.shape[1]} tokens, keep implies {k + 1}")
        ids_restore = self._ids_restore(keep.to(latent.device))
        return self.model.decoder(latent, ids_restore).logits

    def patches_to_image(self, logits: Tensor, x: Tensor, keep: Tensor) -> Tensor:
        """Predicted patches (N, L, p*p*C) -> image (N, C, H, W) in [0, 1].

        ``x`` (the input images) is read only for ``norm_pix_loss`` models, and only on visible
        patches (see the class docstring).
        """
        if self.model.config.norm_pix_loss:
            keep = keep.to(x.device)
            target = patchify(self.normalise(x), self.cfg)  # (N, L, p*p*C)
            mu = target.mean(-1, keepdim=True)
            # HF's loss: unbiased variance + 1e-6
            sd = (target.var(-1, keepdim=True) + 1.0e-6).sqrt()
            vis = keep[..., None].to(target.dtype)
            n_vis = vis.sum(1, keepdim=True)
            # masked-out stats are multiplied by 0 so they add no gradient path to masked pixels
            mu_fill = (mu * vis).sum(1, keepdim=True) / n_vis.clamp_min(1.0)
            sd_fill = torch.where(n_vis > 0, (sd * vis).sum(1, keepdim=True) / n_vis.clamp_min(1.0),
                                  torch.ones_like(n_vis))
            mu = torch.where(keep[..., None], mu, mu_fill)
            sd = torch.where(keep[..., None], sd, sd_fill)
            logits = logits * sd + mu
        return self.denormalise(unpatchify(logits, self.cfg)).clamp(0.0, 1.0)

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        """Full reconstruction (N, C, H, W) in [0, 1] from the visible patches of ``x``."""
        latent = self.encode(x, keep)
        return self.patches_to_image(self.decode_patches(latent, keep), x, keep)

    def inpaint(self, x: Tensor, keep: Tensor) -> Tensor:
        """Visible patches copied from ``x`` exactly, masked ones from the prediction."""
        pred = self.forward(x, keep)
        m = keep_to_pixel_mask(keep.to(x.device), self.cfg)
        return torch.where(m, x, pred)


def _vit_mae_class() -> type:
    try:
        from transformers import ViTMAEForPreTraining
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return ViTMAEForPreTraining


def check_vit_mae_dir(directory: str | Path, weights: bool = True) -> Path:
    """The directory, with config.json (and, with ``weights``, a weight file) present, or a
    FileNotFoundError that says what to download. Only looks at file names."""
    d = Path(directory).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"ViT-MAE directory {str(d)!r} does not exist; {_DOWNLOAD_HINT}")
    if not (d / "config.json").is_file():
        raise FileNotFoundError(f"{str(d)!r} has no config.json; {_DOWNLOAD_HINT}")
    if weights and not any((d / f).is_file() for f in _SAFETENSORS_FILES + _BIN_FILES):
        raise FileNotFoundError(f"{str(d)!r} has no weights (model.safetensors or "
                                f"pytorch_model.bin); {_DOWNLOAD_HINT}")
    return d


def _read_hf_config(d: Path) -> object:
    _vit_mae_class()  # the install hint first
    from transformers import ViTMAEConfig

    return ViTMAEConfig.from_pretrained(str(d), local_files_only=True)


def read_vit_mae_config(directory: str | Path) -> MAEConfig:
    """umalib's :class:`MAEConfig` of the ViT-MAE saved in ``directory`` (reads config.json
    only: no weights, no code)."""
    return mae_config_from_hf(_read_hf_config(check_vit_mae_dir(directory, weights=False)))


def vit_mae_digest(directory: str | Path) -> str:
    """SHA-256 prefix (16 hex digits) over config.json, preprocessor_config.json and every
    weight file of a ViT-MAE directory (shards included): part of every cache key built on the
    model, so other weights never reuse results."""
    d = check_vit_mae_dir(directory, weights=True)
    h = hashlib.sha256()
    weights = sorted(f.name for f in d.iterdir()
                     if f.suffix in (".safetensors", ".bin") or f.name in _SAFETENSORS_FILES + _BIN_FILES)
    for name in ("config.json", "preprocessor_config.json", *weights):
        f = d / name
        if f.is_file():
            h.update(f"{name}|{f.stat().st_size}|".encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def empty_vit_mae(directory: str | Path, mean: Sequence[float] | None = None,
                  std: Sequence[float] | None = None) -> HFMAE:
    """An :class:`HFMAE` of the architecture in ``directory`` with fresh (random) weights, in
    eval mode, for loading a saved ``state_dict`` (e.g. an unlearned copy) into. Normalisation
    as :func:`load_vit_mae`."""
    d = check_vit_mae_dir(directory, weights=False)
    model = _vit_mae_class()(_read_hf_config(d))
    mean, std = _stats(d, mean, std)
    return HFMAE(model.eval(), mean=mean, std=std).eval()


def _stats(d: Path, mean: Sequence[float] | None, std: Sequence[float] | None
           ) -> tuple[Sequence[float] | None, Sequence[float] | None]:
    if mean is None and std is None:
        stats = _read_image_stats(d)
        if stats is not None:
            return stats
    return mean, std


def load_vit_mae(directory: str | Path, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> HFMAE:
    """Load a ViT-MAE saved with ``save_pretrained`` (e.g. ``facebook/vit-mae-base``) from a local
    directory, offline, in eval mode, wrapped in :class:`HFMAE`.

    Weights are read from ``model.safetensors`` when present; otherwise from
    ``pytorch_model.bin`` through ``torch.load(weights_only=True)``, which refuses pickled
    objects other than tensors. ``mean`` / ``std`` default to ``preprocessor_config.json`` in the
    directory, else ImageNet statistics. Never touches the network.
    """
    cls = _vit_mae_class()
    d = check_vit_mae_dir(directory, weights=True)
    use_safetensors = any((d / f).is_file() for f in _SAFETENSORS_FILES)
    model = cls.from_pretrained(str(d), local_files_only=True, use_safetensors=use_safetensors,
                                weights_only=True)
    # from_pretrained leaves every parameter trainable; the MAE's fixed sin-cos position
    # embeddings are frozen in the class itself (and in the official MAE): take the flags from
    # an unmaterialised instance, so unlearning never moves them
    with torch.device("meta"):
        flags = {n: p.requires_grad for n, p in cls(model.config).named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(flags.get(n, True))
    model.eval()
    mean, std = _stats(d, mean, std)
    return HFMAE(model, mean=mean, std=std).eval()
