"""Figures of the notebook series (matplotlib; each function returns the Figure)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..budget import to_255
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


def _err(df: pd.DataFrame, column: str, low: float | None = None, high: float | None = None
         ) -> np.ndarray | None:
    """The ``<column>_std`` values (NaN -> 0) for error bars, or None without them. With
    ``low`` / ``high`` (a metric's range, e.g. 0 and 100 %), a (2, N) array of lower and upper
    bar lengths cut at the range, so no bar claims a value the metric cannot take."""
    std = f"{column}_std"
    if std not in df.columns:
        return None
    sd = df[std].fillna(0).to_numpy(dtype=float)
    if low is None and high is None:
        return sd
    mean = df[column].to_numpy(dtype=float)
    lo = np.minimum(sd, mean - low) if low is not None else sd
    hi = np.minimum(sd, high - mean) if high is not None else sd
    return np.vstack([np.clip(lo, 0, None), np.clip(hi, 0, None)])


_RANGES = {"UA": (0, 100), "RA": (0, 100), "TA": (0, 100), "MIA": (0, 1), "seconds": (0, None)}


def method_comparison(df: pd.DataFrame, title: str = "",
                      metrics: Sequence[str] = ("UA", "RA", "TA", "MIA", "seconds")) -> plt.Figure:
    """One bar panel per metric (three to a row), one bar per method (row); error bars of one
    standard deviation over seeds where the table has ``<metric>_std``, cut at the metric's
    range. Accuracy panels that only differ near the top (TA, RA) start near their smallest
    value, so a few points' difference shows; their axis says where it starts."""
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    colors = plt.get_cmap(PALETTE)(np.arange(len(df)))
    flat = axes.ravel()
    for ax, m in zip(flat, metrics):
        lo, hi = _RANGES.get(m, (None, None))
        ax.bar(df["method"], df[m], color=colors, yerr=_err(df, m, lo, hi), capsize=3,
               error_kw={"elinewidth": 1})
        ax.set_title({"UA": "UA (%): forget acc., lower = forgot", "RA": "RA (%): retain acc.",
                      "TA": "TA (%): test acc.", "MIA": "MIA: member rate (0-1)",
                      "seconds": "wall time (s, log)"}.get(m, m), fontsize=9)
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        if m == "seconds":
            ax.set_yscale("log")
        if m in ("TA", "RA"):
            vals = df[m].to_numpy(dtype=float)
            sd = df.get(f"{m}_std", pd.Series(0, index=df.index)).fillna(0).to_numpy(dtype=float)
            floor = max(0.0, float(np.nanmin(vals - sd)) - 3)
            ax.set_ylim(floor, min(100.0, float(np.nanmax(vals + sd)) + 2))
    for ax in flat[len(metrics):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _pooled_interval(df: pd.DataFrame, col: str, confidence: float = 0.95) -> np.ndarray:
    """Clopper-Pearson intervals (%) of a share pooled over seeds: ``col`` is the mean share
    (%) over ``n_seeds`` reports of ``samples`` images each, so ``mean x samples x n_seeds``
    images of ``samples x n_seeds`` succeeded. Returns (2, N) lower / upper bar lengths."""
    from scipy.stats import beta

    n = (df["samples"] * df.get("n_seeds", 1)).to_numpy(dtype=float)
    share = df[col].to_numpy(dtype=float) / 100
    k = np.round(share * n)
    a = (1 - confidence) / 2
    lo = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
    hi = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    return np.vstack([share - lo, hi - share]).clip(0, None) * 100


def verification_bars(df: pd.DataFrame, title: str = "", threshold: float | None = None
                      ) -> plt.Figure:
    """The verifier's table (:meth:`umalib.experiments.verification.VerificationStages.table`):
    per model, the mapped-back and residual shares (%) of each report line (clean, standard,
    strong, label-guided), as grouped bars with 95 % Clopper-Pearson intervals of the share
    pooled over seeds (the report's own kind of interval); ``threshold`` (%), the verdict's
    threshold on the residual share, drawn as a line on the residual panel."""
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
            err = _pooled_interval(df, col) if "samples" in df.columns else _err(df, col, 0, 100)
            ax.bar(pos + (i - (len(lines) - 1) / 2) * width, df[col], width, color=colors[i],
                   yerr=err, capsize=2, error_kw={"elinewidth": 1}, label=ln.replace("_", "-"))
        ax.set_xticks(pos, df["method"], rotation=20, fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.set_ylim(0, 105)
    if threshold is not None:
        axes[1].axhline(threshold, color="black", ls="--", lw=1)
        axes[1].text(len(df) - 0.5, threshold, f"verdict threshold {threshold:g} %", ha="right",
                     va="bottom", fontsize=7)
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
              f"delta x{1 / (2 * eps):.0f} (+0.5)\nmax |delta| = {to_255(float(d.abs().max())):.1f}/255")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(histories: Mapping[str, torch.Tensor], title: str = "",
                ylabel: str = "mean UMA loss (KL to the original's output)") -> plt.Figure:
    """Attack loss against step, one line per method."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, h in histories.items():
        ax.plot(np.arange(len(h)), np.asarray(h, dtype=float), label=name)
    ax.set_xlabel("attack step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
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


DEFENCE_STYLES = (("+adv", "s", "adversarial unlearning"), (" (unaware)", "^",
                  "purification, unaware attacker"), (" (aware)", "v", "purification, aware attacker"))


def _defence(name: str) -> tuple[str, str, str]:
    """(base method, marker, legend label) of a row of :func:`tradeoff_frame`."""
    for key, marker, label in DEFENCE_STYLES:
        if key in name:
            return name.split("+")[0], marker, label
    return name, "o", "no defence"


def tradeoff(df: pd.DataFrame, x: str = "TA", y: str = "UA_16", label: str = "method",
             title: str = "") -> plt.Figure:
    """Utility (``x``) against attacked UA (``y``): one panel per base method (so methods that
    score alike do not hide each other), its undefended model and each defended version, with an
    arrow from the undefended point to each defence; one marker per defence, named in one
    legend. Error bars of one standard deviation over seeds, cut at 0 and 100 %."""
    base = [_defence(str(n))[0] for n in df[label]]
    methods = list(dict.fromkeys(base))
    fig, axes = plt.subplots(1, len(methods), figsize=(3.4 * len(methods) + 1.8, 3.6),
                             sharey=True, squeeze=False)
    xerr, yerr = _err(df, x, 0, 100), _err(df, y, 0, 100)
    seen: dict[str, object] = {}
    for ax, m in zip(axes[0], methods):
        idx = [i for i, b in enumerate(base) if b == m]
        plain = next((i for i in idx if _defence(str(df[label].iloc[i]))[2] == "no defence"), None)
        for i in idx:
            r = df.iloc[i]
            _, marker, lab = _defence(str(r[label]))
            h = ax.errorbar(r[x], r[y], xerr=None if xerr is None else xerr[:, [i]],
                            yerr=None if yerr is None else yerr[:, [i]], fmt=marker, ms=7,
                            capsize=3, color="black" if plain == i else plt.get_cmap(PALETTE)(
                                1 + [s[2] for s in DEFENCE_STYLES].index(lab)))
            seen.setdefault(lab, h)
            if plain is not None and i != plain:
                p = df.iloc[plain]
                ax.annotate("", (r[x], r[y]), (p[x], p[y]),
                            arrowprops={"arrowstyle": "->", "color": "grey", "lw": 0.8})
        ax.set_title(m, fontsize=10)
        ax.set_xlabel(f"{x} (%), utility: higher is better", fontsize=8)
        ax.set_ylim(-3, 103)
    axes[0, 0].set_ylabel(f"{y} (%): forget acc. under UMA,\nlower is better", fontsize=8)
    fig.legend(list(seen.values()), list(seen), fontsize=8, loc="center left",
               bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
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


def budget_curve(df: pd.DataFrame, paper: Mapping[str, float] | None = None,
                 paper_eps: float = 8 / 255, title: str = "") -> plt.Figure:
    """Share of the L1 gap closed against the attack budget (columns ``method, set, eps,
    closed``; eps as the published table has it, in units of 1/255, inf = unbounded, drawn at
    the right end; the x axis is in units of 1/255), one line per method and set, error bars
    of one standard deviation over seeds where ``closed_std`` is there; ``paper`` (method ->
    share) drawn as stars at ``paper_eps`` (a fraction of the pixel range like every budget,
    default 8/255), the one budget the paper reports."""
    finite = sorted(e for e in df["eps"].unique() if np.isfinite(e))
    pos = {e: float(np.log2(e)) for e in finite}
    inf_x = (max(pos.values()) + 1.5) if pos else 0.0
    fig, ax = plt.subplots(figsize=(9, 3.8))
    colour = {m: plt.get_cmap(PALETTE)(i % 10) for i, m in enumerate(df["method"].unique())}
    for (m, s), g in df.groupby(["method", "set"], sort=False):
        g = g.sort_values("eps")
        xs = [pos.get(e, inf_x) for e in g["eps"]]
        err = _err(g, "closed", 0, 1)
        ax.errorbar(xs, g["closed"], yerr=err, marker="o" if s == "forget" else "s", capsize=3,
                    ls="-" if s == "forget" else "--", label=f"{m}, {s} set", color=colour[m])
    for m, v in (paper or {}).items():
        ax.plot([np.log2(to_255(paper_eps))], [v], marker="*", ms=13, ls="none", mec="black",
                color=colour.get(m, "grey"), label=f"{m}, forget set: the paper (ImageNet)")
    ax.set_ylim(-0.03, 1.03)
    ticks = [*pos.values(), inf_x]
    ax.set_xticks(ticks, [f"{e:g}" for e in finite] + ["unbounded"])
    ax.set_xlabel("L-inf budget eps (units of 1/255)")
    ax.set_ylabel("share of the L1 gap closed\n1 - L1(I3, I1) / L1(I2, I1)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def input_size_curve(df: pd.DataFrame, eps: float = 8.0, paper: Mapping[str, float] | None = None,
                     paper_values: int | None = None, title: str = "") -> plt.Figure:
    """The input-size study: share of the L1 gap closed at budget ``eps`` (units of 1/255, as
    the table's ``eps`` column) against the input values the attacker controls (log axis),
    one line per method and set (columns ``input_values, method, set, eps, closed``; error
    bars of one standard deviation where ``closed_std`` is there), the sizes in pixels written
    at each point; ``paper`` (method -> share) drawn as stars at ``paper_values``."""
    d = df[np.isclose(df["eps"].astype(float), eps)]
    if d.empty:
        raise ValueError(f"the table has no rows at eps {eps:g}/255")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    colour = {m: plt.get_cmap(PALETTE)(i % 10) for i, m in enumerate(d["method"].unique())}
    for (m, s), g in d.groupby(["method", "set"], sort=False):
        g = g.sort_values("input_values")
        ax.errorbar(g["input_values"], g["closed"], yerr=_err(g, "closed", 0, 1), capsize=3,
                    marker="o" if s == "forget" else "s", ls="-" if s == "forget" else "--",
                    label=f"{m}, {s} set", color=colour[m])
    for x, size in d.groupby("input_values")["size"].first().items():
        ax.annotate(f"{size} px", (x, 0.0), textcoords="offset points", xytext=(0, 4),
                    ha="center", fontsize=8, color="dimgrey")
    if paper and paper_values:
        for m, v in paper.items():
            ax.plot([paper_values], [v], marker="*", ms=13, ls="none", mec="black",
                    color=colour.get(m, "grey"), label=f"{m}, forget set: the paper (3x224x224)")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("input values the attacker controls (visible context x channels, log scale)")
    ax.set_ylabel(f"share of the L1 gap closed\nat {eps:g}/255")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
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


_PROBE_BARS = (("UA", "no probe"), ("UA_uma", "UMA"), ("UA_relearn", "relearning"),
               ("UA_relearn_retain", "relearning, retain only"))


def probe_bars(tables: Mapping[str, pd.DataFrame], eps_label: str, steps: int,
               title: str = "") -> plt.Figure:
    """One panel per scenario: forget accuracy (%) of every method's model without a probe,
    under UMA at ``eps_label`` and after ``steps`` relearning steps (with a few forget images,
    and with retain images only); bars are means over seeds with one standard deviation."""
    fig, axes = plt.subplots(1, len(tables), figsize=(6.4 * len(tables), 3.6), squeeze=False)
    width = 0.8 / len(_PROBE_BARS)
    colors = plt.get_cmap(PALETTE)(np.arange(len(_PROBE_BARS)))
    for ax, (kind, df) in zip(axes[0], tables.items()):
        x = np.arange(len(df))
        for i, (col, name) in enumerate(_PROBE_BARS):
            what = {"UA_uma": f"{name} {eps_label}",
                    "UA_relearn": f"{name} ({steps} steps)"}.get(col, name)
            ax.bar(x + (i - 1.5) * width, df[col], width, label=what, color=colors[i],
                   yerr=_err(df, col, 0, 100), capsize=2, error_kw={"elinewidth": 0.8})
        ax.set_xticks(x, df["method"], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("forget accuracy (%)")
        ax.set_title(kind, fontsize=10)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
