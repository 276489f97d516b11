"""Plain-language lines that describe this run's numbers (the verifier's reports, the
generative budget curve).

They state numbers only: whether a paper's claim holds is decided in one place,
:mod:`umalib.reporting.claims`, and nowhere here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..budget import from_255, label


def verification_findings(tv: pd.DataFrame) -> list[str]:
    """Sentences on the verifier's table (notebook 02): how much the strong ladder adds to the
    paper's attack, and whether the verdict changes with it."""
    out = []
    pm = lambda r, c: f"{r[c]:.1f} ± {r.get(c + '_std', float('nan')):.1f}"  # noqa: E731
    for _, r in tv.iterrows():
        gain = r["mapped_strong"] - r["mapped_standard"]
        out.append(f"{r['method']}: mapped back {pm(r, 'mapped_standard')} % (standard) -> "
                   f"{pm(r, 'mapped_strong')} % (strong, +{gain:.1f} points; label-guided bound "
                   f"{pm(r, 'mapped_label_guided')} %), residual {pm(r, 'residual_standard')} -> "
                   f"{pm(r, 'residual_strong')} %. Verdict: {r['verdict']}"
                   + ("" if r["verdict"] == r["verdict_standard"] else
                      f" (the standard attack alone: {r['verdict_standard']})") + ".")
    return out


def budget_findings(curve: pd.DataFrame, reach: dict[tuple[str, str], float | None],
                    n_visible: int, image: str, share: float = 0.9) -> list[str]:
    """Sentences on the generative budget curve (notebook 03): per (method, set), the budget at
    which the mean closed share first reaches ``share`` (``reach``, from
    :func:`umalib.experiments.generative.budget_reach`, eps as the curve's column: units of
    1/255, inf = unbounded) or its largest value, then how many input values the attacker
    controls in an ``image`` ("1x28x28")."""
    out = []
    for (m, s), e in reach.items():
        top = curve[(curve.method == m) & (curve.set == s)].closed.max()
        if e is None:
            how = f"is below {100 * share:.0f} % at every budget (at most {100 * top:.0f} %)"
        else:
            how = f"reaches {100 * share:.0f} % " + ("only unbounded" if math.isinf(e)
                                                     else f"at {label(from_255(e))}")
        out.append(f"{m}, {s} set: the mean closed share {how}.")
    out.append(f"The attacker controls {n_visible} input values (the visible context of a {image} image).")
    return out


def input_size_findings(study: pd.DataFrame, eps: float = 8.0,
                        paper: dict[str, float] | None = None,
                        paper_values: int | None = None) -> list[str]:
    """Sentences on notebook 03's input-size study (an aggregated table with ``closed_std``):
    per method and set, the mean ± std share of the L1 gap closed at ``eps`` (units of 1/255)
    at every size, the original inpainter's own error and its outputs' FID per size, and the
    paper's shares (``paper``, method -> share) at its input count ``paper_values``."""
    d = study[np.isclose(study["eps"].astype(float), eps)]
    if d.empty:
        raise ValueError(f"the study has no rows at eps {eps:g}/255")
    at = label(from_255(eps))
    out = []
    for (m, s), g in d.groupby(["method", "set"], sort=False):
        pts = [f"{100 * r.closed:.1f} ± {100 * r.closed_std:.1f} % at {r.size} px "
               f"({r.input_values:,} values)" for r in g.sort_values("size").itertuples()]
        out.append(f"{m}, {s} set, UMA at {at}: " + " -> ".join(pts) + ".")
    err = d.drop_duplicates(["size", "set"]).sort_values(["set", "size"])
    for s, g in err.groupby("set", sort=False):
        out.append(f"The original inpainter's own error L1(I1, I0) per value, {s} set: "
                   + ", ".join(f"{r.original_L1_per_pixel:.1f} at {r.size} px"
                               for r in g.itertuples()) + ".")
        # what an unforgotten model scores, beside the table's FID columns
        out.append(f"The domain FID of the original's own outputs (I1), {s} set: "
                   + ", ".join(f"{r.FID_original:.2f} ± {r.FID_original_std:.2f} at {r.size} px"
                               for r in g.itertuples()) + ".")
    if paper and paper_values:
        out.append("The paper (ImageNet, a pretrained ViT-MAE): "
                   + ", ".join(f"{m} {100 * v:.0f} %" for m, v in paper.items())
                   + f" at 3x224x224 (about {paper_values:,} visible values with this mask).")
    return out


def input_size_view(study: pd.DataFrame, eps: float = 8.0) -> pd.DataFrame:
    """Notebook 03's table of the input-size study at ``eps`` (units of 1/255), narrow enough
    for a page: per method, set and size (a label such as "112 px"), the % of the L1 gap
    closed at ``eps`` and unbounded and the domain FID of I2 and I3, means and ``_std``
    columns (:func:`umalib.experiments.input_size.at_budget` of the aggregated table). The
    input count and the original's own error and FID are left to :func:`input_size_findings`.
    """
    from ..experiments.input_size import at_budget

    view = at_budget(study, eps).drop(
        columns=["input_values", "original_L1_per_pixel", "original_L1_per_pixel_std",
                 "FID_original", "FID_original_std"])
    view["size"] = view["size"].map("{} px".format)  # a label, like method and set
    shares = ["closed", "closed_std", "closed_unbounded", "closed_unbounded_std"]
    view[shares] = 100 * view[shares]
    return view.rename(columns={
        "closed": f"% closed at {eps:g}/255", "closed_std": f"% closed at {eps:g}/255_std",
        "closed_unbounded": "% closed unbounded", "closed_unbounded_std": "% closed unbounded_std",
        "FID": f"FID at {eps:g}/255", "FID_std": f"FID at {eps:g}/255_std"})
