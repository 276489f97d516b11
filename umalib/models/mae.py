"""A small ViT masked autoencoder (MAE) used as an image inpainter.

The generative setting of the paper (Section 5.1, Appendix A.3) unlearns a masked autoencoder:
I0 is a ground-truth image, Im its masked version, I1 the original model's output on Im, I2 the
unlearned model's output and I3 the unlearned model's output on a UMA-perturbed Im.

Patch masks are boolean ``keep`` tensors of shape (N, L), L = (image_size / patch_size) ** 2,
True where a patch is visible to the encoder. Every row of a batch must keep the same number of
patches, so the visible tokens of a batch stack into one (N, L_visible, D) tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

__all__ = [
    "MAEConfig",
    "MAE",
    "Inpainter",
    "centre_square_keep",
    "random_keep",
    "mask_image",
    "keep_to_pixel_mask",
    "inpainted_region",
    "patchify",
    "unpatchify",
    "train_mae",
    "reconstruction_loss",
]


@dataclass(frozen=True)
class MAEConfig:
    """Architecture of the MAE; ``mask_ratio`` is the share of patches hidden during training."""

    image_size: int = 28
    channels: int = 1
    patch_size: int = 4
    embed_dim: int = 128
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 64
    decoder_depth: int = 2
    decoder_heads: int = 4
    mask_ratio: float = 0.5

    def __post_init__(self) -> None:
        for name in ("image_size", "channels", "patch_size", "embed_dim", "depth", "heads",
                     "decoder_dim", "decoder_depth", "decoder_heads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MAEConfig.{name} must be a positive integer")
        if self.image_size % self.patch_size:
            raise ValueError("MAEConfig.patch_size must divide image_size")
        if self.embed_dim % self.heads:
            raise ValueError("MAEConfig.heads must divide embed_dim")
        if self.decoder_dim % self.decoder_heads:
            raise ValueError("MAEConfig.decoder_heads must divide decoder_dim")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError("MAEConfig.mask_ratio must be in [0, 1)")

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """L, the number of patches per image."""
        return self.grid ** 2

    @property
    def patch_dim(self) -> int:
        """Pixels per patch times channels."""
        return self.patch_size ** 2 * self.channels


# ----------------------------------------------------------------------------- patch helpers

def patchify(x: Tensor, cfg: MAEConfig) -> Tensor:
    """(N, C, H, W) -> (N, L, p*p*C), patches in row-major grid order."""
    n, c, h, w = x.shape
    p, g = cfg.patch_size, cfg.grid
    x = x.reshape(n, c, g, p, g, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, g * g, p * p * c)


def unpatchify(patches: Tensor, cfg: MAEConfig) -> Tensor:
    """(N, L, p*p*C) -> (N, C, H, W); inverse of :func:`patchify`."""
    n = patches.shape[0]
    p, g, c = cfg.patch_size, cfg.grid, cfg.channels
    x = patches.reshape(n, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, c, g * p, g * p)


def keep_to_pixel_mask(keep: Tensor, cfg: MAEConfig) -> Tensor:
    """Boolean (N, L) patch mask -> boolean (N, 1, H, W) pixel mask (True = visible)."""
    n = keep.shape[0]
    g, p = cfg.grid, cfg.patch_size
    m = keep.reshape(n, 1, g, 1, g, 1).expand(n, 1, g, p, g, p)
    return m.reshape(n, 1, g * p, g * p)


def inpainted_region(keep_row: Tensor, cfg: MAEConfig) -> Tensor:
    """Bool (1, 1, H, W), True on the pixels an inpainter with mask ``keep_row`` (L,) fills in.

    Outside it the output is the input itself, so a perturbation of Im shows up there
    one-to-one; comparing outputs on this region alone measures what the model generates.
    """
    return ~keep_to_pixel_mask(keep_row.reshape(1, -1), cfg)


def _check_keep(keep: Tensor, cfg: MAEConfig, n: int | None = None) -> int:
    """Validate a keep mask and return the number of visible patches per row."""
    if keep.dtype != torch.bool or keep.dim() != 2 or keep.shape[1] != cfg.num_patches:
        raise ValueError(f"keep must be a bool tensor of shape (N, {cfg.num_patches}), "
                         f"got {tuple(keep.shape)} {keep.dtype}")
    if n is not None and keep.shape[0] != n:
        raise ValueError(f"keep has {keep.shape[0]} rows but the batch has {n} images")
    counts = keep.sum(1)
    k = int(counts[0]) if counts.numel() else 0
    if counts.numel() and not bool((counts == k).all()):
        raise ValueError("keep must keep the same number of patches in every row")
    return k


def centre_square_keep(cfg: MAEConfig, n: int, frac: float = 0.5,
                       device: torch.device | str | None = None) -> Tensor:
    """Bool keep mask (n, L): False on a centred square of patches, True elsewhere.

    The square's side is the integer nearest to ``frac * grid`` that has the same parity as the
    grid (ties go up), so the square is exactly centred: grid 7 and frac 0.5 give a 3x3 square,
    grid 4 or 16 with frac 0.5 give 2x2 or 8x8 (I2I uses 4/16 and 8/16 of the grid).
    """
    if not 0.0 < frac < 1.0:
        raise ValueError("frac must be in (0, 1)")
    if n < 0:
        raise ValueError("n must be >= 0")
    g = cfg.grid
    target = frac * g
    # candidates with the grid's parity, nearest first, ties to the larger side
    candidates = [s for s in range(g % 2 or 2, g + 1, 2)]
    if not candidates:
        candidates = [g]
    side = min(candidates, key=lambda s: (abs(s - target), -s))
    if side >= g:
        raise ValueError(f"frac={frac} masks the whole {g}x{g} grid")
    start = (g - side) // 2
    grid_keep = torch.ones(g, g, dtype=torch.bool, device=device)
    grid_keep[start:start + side, start:start + side] = False
    return grid_keep.reshape(1, -1).expand(n, -1).clone()


def random_keep(cfg: MAEConfig, n: int, mask_ratio: float,
                generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    """Random bool keep mask (n, L); every row keeps ``int(L * (1 - mask_ratio))`` patches (>= 1).

    The random numbers are drawn on the generator's device (CPU when None) and the mask is then
    moved to ``device``.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError("mask_ratio must be in [0, 1)")
    L = cfg.num_patches
    n_keep = max(1, int(L * (1.0 - mask_ratio)))
    gen_device = generator.device if generator is not None else "cpu"
    noise = torch.rand(n, L, generator=generator, device=gen_device)
    ids = noise.argsort(dim=1)[:, :n_keep]
    keep = torch.zeros(n, L, dtype=torch.bool, device=gen_device)
    keep.scatter_(1, ids, True)
    return keep.to(device) if device is not None else keep


def mask_image(x: Tensor, keep: Tensor, cfg: MAEConfig, fill: float = 0.5) -> Tensor:
    """Im: ``x`` (N, C, H, W) in [0, 1] with the masked patches replaced by ``fill`` (grey)."""
    _check_keep(keep, cfg, x.shape[0])
    m = keep_to_pixel_mask(keep.to(x.device), cfg)
    return torch.where(m, x, torch.full_like(x, fill))


# ----------------------------------------------------------------------------- model

def _sincos_pos_embed(dim: int, grid: int) -> Tensor:
    """Fixed 2-D sine-cosine position embedding (grid*grid, dim)."""
    if dim % 4:
        # fall back to a 1-D embedding for dims that do not split in four
        pos = torch.arange(grid * grid, dtype=torch.float32)[:, None]
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        pe = torch.zeros(grid * grid, dim)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
        return pe
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32),
                            torch.arange(grid, dtype=torch.float32), indexing="ij")
    out = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        ang = coord[:, None] * omega[None]
        out += [torch.sin(ang), torch.cos(ang)]
    return torch.cat(out, dim=1)


class _Block(nn.Module):
    """Pre-norm transformer block: self-attention and a GELU MLP, each with a residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class MAE(nn.Module):
    """ViT masked autoencoder on images in [0, 1]; outputs a sigmoid image in [0, 1].

    Encoder: linear patch embedding + fixed sin-cos positions, a learned [CLS] token, ``depth``
    blocks and a LayerNorm; it sees only the visible patches. Decoder: linear projection to
    ``decoder_dim``, a learned mask token in every hidden position, fixed positions, blocks,
    LayerNorm and a linear head to pixels.
    Parameters are split by :meth:`encoder_parameters` / :meth:`decoder_parameters`.
    """

    def __init__(self, cfg: MAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        L = cfg.num_patches
        # encoder
        self.patch_embed = nn.Linear(cfg.patch_dim, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.register_buffer("pos_embed", _sincos_pos_embed(cfg.embed_dim, cfg.grid)[None],
                             persistent=False)
        self.blocks = nn.ModuleList(_Block(cfg.embed_dim, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.embed_dim)
        # decoder
        self.decoder_embed = nn.Linear(cfg.embed_dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.register_buffer("decoder_pos_embed",
                             _sincos_pos_embed(cfg.decoder_dim, cfg.grid)[None], persistent=False)
        self.decoder_blocks = nn.ModuleList(
            _Block(cfg.decoder_dim, cfg.decoder_heads) for _ in range(cfg.decoder_depth))
        self.decoder_norm = nn.LayerNorm(cfg.decoder_dim)
        self.decoder_pred = nn.Linear(cfg.decoder_dim, cfg.patch_dim)
        assert L == self.pos_embed.shape[1]
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    _ENCODER_PREFIXES = ("patch_embed.", "cls_token", "blocks.", "norm.")

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters used by :meth:`encode` (patch embedding, [CLS], blocks, final norm)."""
        return [p for n, p in self.named_parameters() if n.startswith(self._ENCODER_PREFIXES)]

    def decoder_parameters(self) -> list[nn.Parameter]:
        """Parameters used only by :meth:`decode`."""
        return [p for n, p in self.named_parameters()
                if not n.startswith(self._ENCODER_PREFIXES)]

    @staticmethod
    def _visible_ids(keep: Tensor, k: int) -> Tensor:
        # nonzero lists True positions row by row in increasing order
        return keep.nonzero()[:, 1].reshape(keep.shape[0], k)

    def encode(self, x: Tensor, keep: Tensor) -> Tensor:
        """x (N, C, H, W) in [0, 1], keep bool (N, L) -> latent (N, 1 + L_visible, embed_dim).

        Token 0 is [CLS]; tokens 1.. are the visible patches in grid order.
        """
        k = _check_keep(keep, self.cfg, x.shape[0])
        keep = keep.to(x.device)
        # centre pixels around 0 inside the model so attacks work in pixel space
        tokens = self.patch_embed(patchify(x * 2.0 - 1.0, self.cfg)) + self.pos_embed
        ids = self._visible_ids(keep, k)
        tokens = torch.gather(tokens, 1, ids[..., None].expand(-1, -1, tokens.shape[-1]))
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        h = torch.cat([cls, tokens], dim=1)
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h)

    def decode(self, latent: Tensor, keep: Tensor) -> Tensor:
        """latent (N, 1 + L_visible, embed_dim) from :meth:`encode` with the same keep ->
        predicted image (N, C, H, W) in [0, 1] for every patch (visible ones included)."""
        k = _check_keep(keep, self.cfg, latent.shape[0])
        if latent.shape[1] != k + 1:
            raise ValueError(f"latent has {latent.shape[1]} tokens, keep implies {k + 1}")
        keep = keep.to(latent.device)
        n, L = keep.shape
        h = self.decoder_embed(latent)
        full = self.mask_token.expand(n, L, -1).clone()
        ids = self._visible_ids(keep, k)
        full = full.scatter(1, ids[..., None].expand(-1, -1, h.shape[-1]), h[:, 1:])
        full = torch.cat([h[:, :1], full + self.decoder_pos_embed], dim=1)
        for blk in self.decoder_blocks:
            full = blk(full)
        patches = self.decoder_pred(self.decoder_norm(full))[:, 1:]
        return torch.sigmoid(unpatchify(patches, self.cfg))

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        """Full reconstruction (N, C, H, W) in [0, 1] from the visible patches of ``x``."""
        return self.decode(self.encode(x, keep), keep)

    def inpaint(self, x: Tensor, keep: Tensor) -> Tensor:
        """Reconstruction composited as in I2I: visible patches copied from ``x`` exactly,
        masked patches from the prediction. (N, C, H, W) in [0, 1]."""
        pred = self.forward(x, keep)
        m = keep_to_pixel_mask(keep.to(x.device), self.cfg)
        return torch.where(m, x, pred)


class Inpainter(nn.Module):
    """Fixed-mask wrapper so the generator reads f(Im) -> image.

    ``keep_row`` (L,) is one patch pattern shared by every image of a batch. Only the visible
    patches of ``im`` reach the encoder (and are copied to the output), so gradients w.r.t. Im
    are non-zero on visible patches and zero on masked ones.
    """

    def __init__(self, mae: MAE, keep_row: Tensor) -> None:
        super().__init__()
        keep_row = keep_row.reshape(-1)
        _check_keep(keep_row[None], mae.cfg)
        self.mae = mae
        self.register_buffer("keep_row", keep_row.clone(), persistent=False)

    def forward(self, im: Tensor) -> Tensor:
        """im (N, C, H, W) in [0, 1] -> ``mae.inpaint(im, keep)`` (N, C, H, W)."""
        keep = self.keep_row.to(im.device)[None].expand(im.shape[0], -1)
        return self.mae.inpaint(im, keep)

    def inpainted_region(self) -> Tensor:
        """Bool (1, 1, H, W), True on the pixels the model fills in (see :func:`inpainted_region`)."""
        return inpainted_region(self.keep_row, self.mae.cfg)


# ----------------------------------------------------------------------------- training

def _masked_mse(pred: Tensor, target: Tensor, keep: Tensor, cfg: MAEConfig,
                visible_weight: float = 0.0) -> Tensor:
    """Per-sample MSE (N,) over masked patches, plus ``visible_weight`` x MSE over visible ones."""
    err = (patchify(pred, cfg) - patchify(target, cfg)).pow(2).mean(-1)  # (N, L)
    hidden = (~keep).float()
    loss = (err * hidden).sum(1) / hidden.sum(1).clamp_min(1.0)
    if visible_weight:
        vis = keep.float()
        loss = loss + visible_weight * (err * vis).sum(1) / vis.sum(1).clamp_min(1.0)
    return loss


def reconstruction_loss(mae: MAE, x: Tensor, keep: Tensor) -> Tensor:
    """Per-sample MSE (N,) between ``mae(x, keep)`` and ``x`` on the masked patches."""
    keep = keep.to(x.device)
    return _masked_mse(mae(x, keep), x, keep, mae.cfg)


def _check_images(x: Tensor, cfg: MAEConfig, name: str) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (cfg.channels, cfg.image_size, cfg.image_size):
        raise ValueError(f"{name} must have shape (N, {cfg.channels}, {cfg.image_size}, "
                         f"{cfg.image_size}), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")


def train_mae(cfg: MAEConfig, x_train: Tensor, *, epochs: int, batch_size: int, lr: float,
              weight_decay: float = 0.05, seed: int = 0, device: str | torch.device = "cpu",
              progress: bool = True, visible_weight: float = 0.0,
              warmup_frac: float = 0.05, centre_share: float = 0.0,
              square_frac: float = 0.5) -> tuple[MAE, list[float]]:
    """Train an MAE on ``x_train`` (N, C, H, W) in [0, 1] with random patch masks.

    AdamW (betas 0.9, 0.95), linear warm-up over ``warmup_frac`` of the steps then cosine decay
    to 0. Loss: MSE on masked patches + ``visible_weight`` x MSE on visible ones. Masks hide
    ``cfg.mask_ratio`` of the patches; a seeded ``centre_share`` of the batches instead hide the
    centred square of :func:`centre_square_keep` (``square_frac``), the inpainting task the
    model is evaluated on. Returns the model (eval mode, on ``device``) and the mean training
    loss of every epoch.
    """
    _check_images(x_train, cfg, "x_train")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if lr <= 0:
        raise ValueError("lr must be > 0")
    if not 0.0 <= warmup_frac < 1.0:
        raise ValueError("warmup_frac must be in [0, 1)")
    if not 0.0 <= centre_share <= 1.0:
        raise ValueError("centre_share must be in [0, 1]")
    centre = centre_square_keep(cfg, 1, square_frac, device=device) if centre_share else None
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MAE(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95),
                            weight_decay=weight_decay)
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    warm = max(1, int(warmup_frac * total))

    def lr_at(step: int) -> float:
        if step < warm:
            return lr * (step + 1) / warm
        return lr * 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    losses: list[float] = []
    step = 0
    model.train()
    bar = tqdm(range(epochs), desc="train MAE", disable=not progress)
    for _ in bar:
        perm = torch.randperm(n, generator=gen)
        running, seen = 0.0, 0
        for i in range(0, n, batch_size):
            xb = x_train[perm[i:i + batch_size]].to(device, non_blocking=True)
            # no draw at centre_share 0, so that training is then exactly the random-mask one
            if centre is not None and float(torch.rand(1, generator=gen)) < centre_share:
                keep = centre.expand(xb.shape[0], -1)
            else:
                keep = random_keep(cfg, xb.shape[0], cfg.mask_ratio, gen, device=device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = _masked_mse(model(xb, keep), xb, keep, cfg, visible_weight).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running += float(loss.detach()) * xb.shape[0]
            seen += xb.shape[0]
        losses.append(running / seen)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.eval()
    return model, losses
