"""Figures of the notebook series (matplotlib; each function returns the Figure)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..experiments.defenses import VAE_SUFFIX

PALETTE = "tab10"


def _img(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> something imshow takes."""
    a = x.detach().cpu().float().clamp(0, 1).numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def _show(ax: plt.Axes, x: torch.Tensor, title: str = "", **kw: object) -> None:
    a = _img(x)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def sample_grid(x: torch.Tensor, y: torch.Tensor, classes: Sequence[str], per_class: int = 8
                ) -> plt.Figure:
    """``per_class`` images of every class, one row per class."""
    k = len(classes)
    fig, axes = plt.subplots(k, per_class, figsize=(per_class * 0.9, k * 0.95))
    axes = np.atleast_2d(axes)
    for c in range(k):
        idx = torch.nonzero(y == c).flatten()[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            if j < len(idx):
                _show(ax, x[idx[j]].float() / (255 if x.dtype == torch.uint8 else 1))
            ax.axis("off")
        axes[c, 0].text(-3, x.shape[-1] / 2, f"{c}: {classes[c]}", ha="right", va="center",
                        fontsize=8)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.25)
    return fig


def _err(df: pd.DataFrame, column: str) -> np.ndarray | None:
    """The ``<column>_std`` values (NaN -> 0) for error bars, or None without them."""
    std = f"{column}_std"
    return df[std].fillna(0).to_numpy() if std in df.columns else None


def method_comparison(df: pd.DataFrame, title: str = "",
                      metrics: Sequence[str] = ("UA", "RA", "TA", "MIA", "seconds")) -> plt.Figure:
    """One bar panel per metric, one bar per method (row); error bars of one standard deviation
    over seeds where the table has ``<metric>_std``."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.1 * len(metrics), 3.2))
    colors = plt.get_cmap(PALETTE)(np.arange(len(df)))
    for ax, m in zip(np.atleast_1d(axes), metrics):
        ax.bar(df["method"], df[m], color=colors, yerr=_err(df, m), capsize=3,
               error_kw={"elinewidth": 1})
        ax.set_title({"UA": "UA (%) forget acc, lower = forgot", "RA": "RA (%) retain acc",
                      "TA": "TA (%) test acc", "MIA": "MIA (member rate)",
                      "seconds": "wall time (s)"}.get(m, m), fontsize=9)
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        if m == "seconds":
            ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def verification_bars(df: pd.DataFrame, title: str = "") -> plt.Figure:
    """The verifier's table (:meth:`umalib.experiments.verification.VerificationStages.table`):
    per model, the mapped-back and residual shares (%) of each report line (clean, standard,
    strong, label-guided), as grouped bars with one-std error bars over seeds."""
    lines = [ln for ln in ("clean", "standard", "strong", "label_guided")
             if f"mapped_{ln}" in df.columns and df[f"mapped_{ln}"].notna().any()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    pos = np.arange(len(df))
    width = 0.8 / max(len(lines), 1)
    colors = plt.get_cmap(PALETTE)(np.arange(len(lines)))
    for ax, metric, label in ((axes[0], "mapped", "mapped back (%)"),
                              (axes[1], "residual", "residual vs retrained (%)")):
        for i, ln in enumerate(lines):
            col = f"{metric}_{ln}"
            ax.bar(pos + (i - (len(lines) - 1) / 2) * width, df[col], width, color=colors[i],
                   yerr=_err(df, col), capsize=2, error_kw={"elinewidth": 1},
                   label=ln.replace("_", "-"))
        ax.set_xticks(pos, df["method"], rotation=20, fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.set_ylim(0, 105)
    axes[0].legend(fontsize=7, title="report line", title_fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def attack_examples(x: torch.Tensor, x_adv: torch.Tensor, labels: torch.Tensor,
                    pred_original: torch.Tensor, pred_clean: torch.Tensor,
                    pred_attacked: torch.Tensor, classes: Sequence[str], eps: float,
                    n: int = 6, title: str = "") -> plt.Figure:
    """The paper's Figure 1 on real data: x, x + delta, delta magnified, with predictions of
    the original, the unlearned model on x, and the unlearned model on x + delta."""
    n = min(n, len(x))
    fig, axes = plt.subplots(3, n, figsize=(1.9 * n, 6.2))
    axes = np.atleast_2d(axes).reshape(3, n)
    for j in range(n):
        d = x_adv[j] - x[j]
        _show(axes[0, j], x[j], f"x (true: {classes[int(labels[j])]})\n"
              f"original: {classes[int(pred_original[j])]}\nunlearned: {classes[int(pred_clean[j])]}")
        _show(axes[1, j], x_adv[j], f"x + delta\nunlearned: {classes[int(pred_attacked[j])]}")
        _show(axes[2, j], (d / (2 * eps) + 0.5).clamp(0, 1),
              f"delta x{1 / (2 * eps):.0f} (+0.5)\nmax |delta| = {float(d.abs().max()) * 255:.1f}/255")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(histories: Mapping[str, torch.Tensor], title: str = "",
                ylabel: str = "mean UMA loss (KL to the original's output)") -> plt.Figure:
    """Attack loss against step, one line per method."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, h in histories.items():
        ax.plot(np.arange(len(h)), np.asarray(h, dtype=float), label=name)
    ax.set_xlabel("attack step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def image_rows(rows: Mapping[str, torch.Tensor], n: int = 6, title: str = "") -> plt.Figure:
    """A grid with one labelled row per entry of ``rows`` (each (N, C, H, W) in [0, 1])."""
    names = list(rows)
    n = min(n, min(len(v) for v in rows.values()))
    fig, axes = plt.subplots(len(names), n, figsize=(1.3 * n + 1.2, 1.35 * len(names)))
    axes = np.atleast_2d(axes).reshape(len(names), n)
    for i, name in enumerate(names):
        for j in range(n):
            _show(axes[i, j], rows[name][j])
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.04, hspace=0.06, left=0.2)
    return fig


def tradeoff(df: pd.DataFrame, x: str = "TA", y: str = "UA_16", label: str = "method",
             title: str = "") -> plt.Figure:
    """Scatter of utility (``x``) against attacked UA (``y``), one point per row (a colour and a
    marker each, named in a legend beside the axes: labels written at the points overlap where
    defences score alike), with one-standard-deviation error bars over seeds where the table has
    ``_std`` columns."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    xerr, yerr = _err(df, x), _err(df, y)
    markers = "osD^v<>ph*"
    for i, (_, r) in enumerate(df.iterrows()):
        ax.errorbar(r[x], r[y], xerr=None if xerr is None else xerr[i],
                    yerr=None if yerr is None else yerr[i], fmt=markers[i % len(markers)], ms=6,
                    capsize=3, color=plt.get_cmap(PALETTE)(i % 10), label=str(r[label]))
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.set_xlabel(f"{x} (%) - utility, higher is better")
    ax.set_ylabel(f"{y} (%) - forget acc. under UMA, lower is better")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def sweep(df: pd.DataFrame, x: str, title: str = "", xlabel: str | None = None,
          logx: bool = False) -> plt.Figure:
    """UA and MIA against ``x`` (steps or step size), one line per method, with a band of one
    standard deviation over seeds where the table has ``UA_std`` / ``MIA_std``."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for (name, g), c in zip(df.groupby("method", sort=False), range(10)):
        g = g.sort_values(x)
        color = plt.get_cmap(PALETTE)(c)
        for ax, m in zip(axes, ("UA", "MIA")):
            ax.plot(g[x], g[m], marker="o", label=name, color=color)
            err = _err(g, m)
            if err is not None:
                ax.fill_between(g[x], g[m] - err, g[m] + err, color=color, alpha=0.2, lw=0)
    for ax, m in zip(axes, ("UA (%) under UMA", "MIA under UMA")):
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(m)
        if logx:
            ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def budget_curve(df: pd.DataFrame, target: float = 0.9, title: str = "") -> plt.Figure:
    """Share of the L1 gap closed against the attack budget (columns ``method, set, eps,
    closed``; eps in units of 1/255, inf = unbounded, drawn at the right end), one line per
    method and set, error bars of one standard deviation over seeds where ``closed_std`` is
    there; a dashed line at ``target`` (the paper's 90 %)."""
    finite = sorted(e for e in df["eps"].unique() if np.isfinite(e))
    pos = {e: float(np.log2(e)) for e in finite}
    inf_x = (max(pos.values()) + 1.5) if pos else 0.0
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, ((m, s), g) in enumerate(df.groupby(["method", "set"], sort=False)):
        g = g.sort_values("eps")
        xs = [pos.get(e, inf_x) for e in g["eps"]]
        err = _err(g, "closed")
        ax.errorbar(xs, g["closed"], yerr=err, marker="o" if s == "forget" else "s", capsize=3,
                    ls="-" if s == "forget" else "--", label=f"{m}, {s} set",
                    color=plt.get_cmap(PALETTE)(i % 10))
    ax.axhline(target, color="grey", ls=":", lw=1)
    ax.text(min(pos.values(), default=0.0), target, f" paper: {100 * target:.0f} % at 8/255",
            va="bottom", fontsize=8, color="grey")
    ticks = [*pos.values(), inf_x]
    ax.set_xticks(ticks, [f"{e:g}" for e in finite] + ["unbounded"])
    ax.set_xlabel("L-inf budget eps (units of 1/255)")
    ax.set_ylabel("share of the L1 gap closed\n1 - L1(I3, I1) / L1(I2, I1)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def tradeoff_frame(t4: pd.DataFrame, t5: pd.DataFrame, t6: pd.DataFrame) -> pd.DataFrame:
    """Every defended and undefended model once, for a utility / robustness scatter: Table 4's
    rows, Table 5's plain rows, and the +vae rows labelled with their threat model."""
    parts = [t4, t5[~t5["method"].str.endswith(VAE_SUFFIX)]]
    for t, threat in ((t5, "unaware"), (t6, "aware")):
        v = t[t["method"].str.endswith(VAE_SUFFIX)].copy()
        v["method"] = v["method"] + f" ({threat})"
        parts.append(v)
    return pd.concat(parts, ignore_index=True).drop_duplicates("method")
