"""The paper's own numbers (CIFAR-10 and ImageNet-1k), shown beside ours and labelled as the
paper's. Transcribed from Tables 1-7 of "Verifying Robust Unlearning: Probing Residual
Knowledge in Unlearned Models" (Xuan & Li). NaN = "-" in the paper.
"""

from __future__ import annotations

import math

import pandas as pd

NAN = math.nan
_ATTACK_COLS = ["method", "TA", "UA", "MIA", "UA_8", "MIA_8", "UA_16", "MIA_16"]

# Table 1 (class-wise, CIFAR-10, ResNet-50).
TABLE1_CIFAR10 = [
    ("Original", 94.13, 100, 0.9796, NAN, NAN, NAN, NAN),
    ("retrain", 93.99, 0, 0, 0, 0.0012, 0, 0.0020),
    ("FT", 92.21, 22.20, 0.0928, 99.96, 0.9934, 100, 0.9892),
    ("RL", 91.70, 0, 0, 18.62, 0.0636, 56.02, 0.2534),
    ("IU", 89.73, 21.38, 0.1522, 99.68, 0.9684, 99.90, 0.9780),
    ("l1-sparse", 91.53, 0, 0, 73.00, 0.3680, 97.12, 0.6886),
    ("SalUn", 92.18, 0, 0.0002, 6.04, 0.0292, 32.58, 0.1986),
]
# Table 2 (instance-wise, 5000 random samples, CIFAR-10).
TABLE2_CIFAR10 = [
    ("Original", 94.13, 100, 0.9732, NAN, NAN, NAN, NAN),
    ("retrain", 93.34, 93.78, 0.8636, 99.98, 0.9774, 99.98, 0.9728),
    ("FT", 92.13, 98.02, 0.9124, 99.98, 0.9794, 99.96, 0.9810),
    ("RL", 89.22, 91.88, 0.8012, 99.96, 0.9896, 100, 0.9866),
    ("IU", 89.82, 97.92, 0.8926, 99.98, 0.9630, 99.98, 0.9628),
    ("l1-sparse", 91.32, 95.76, 0.8848, 99.98, 0.9842, 100, 0.9814),
    ("SalUn", 90.55, 93.48, 0.8140, 100, 0.9884, 99.98, 0.9872),
]
# Table 3 (MAE on ImageNet-1k): IS and FID, retain (R) / forget (F), per attack.
TABLE3_IMAGENET = [
    ("Original", "none", 6.21, 6.39, 96.12, 103.38),
    ("I2I", "none", 6.18, 2.79, 100.15, 306.43),
    ("I2I", "8/255", 6.21, 6.22, 94.76, 114.16),
    ("I2I", "unbounded", 6.20, 6.35, 96.98, 110.29),
    ("SalUn", "none", 6.05, 2.42, 130.45, 330.79),
    ("SalUn", "8/255", 6.02, 6.11, 102.75, 133.82),
    ("SalUn", "unbounded", 6.13, 6.27, 94.15, 108.44),
]
# Table 4 (adversarial unlearning with RL; CIFAR-10 row).
TABLE4_CIFAR10 = [("RL+adv", 91.53, 0, 0, 1.44, 0.0032, 16.98, 0.0532)]
# Tables 5 and 6 (VAE purification, CIFAR-10; the paper gives no TA column).
TABLE5_CIFAR10 = [("FT+vae", NAN, 4.86, 0.0142, 4.90, 0.0142, 5.40, 0.0152),
                  ("SalUn+vae", NAN, 0, 0, 0, 0, 0, 0)]
TABLE6_CIFAR10 = [("FT+vae", NAN, 4.86, 0.0142, 99.98, 0.9922, 100, 0.9970),
                  ("SalUn+vae", NAN, 0, 0, 0.66, 0.0026, 10.38, 0.0584)]
# Table 7: L1 per image (224x224x3, 0-255 units) between unlearned and original outputs.
TABLE7_IMAGENET = [("I2I", "retain", "none", 64619), ("I2I", "retain", "8/255", 42410),
                   ("I2I", "forget", "none", 1140778), ("I2I", "forget", "8/255", 48317),
                   ("SalUn", "retain", "none", 214596), ("SalUn", "retain", "8/255", 114089),
                   ("SalUn", "forget", "none", 2790552), ("SalUn", "forget", "8/255", 242029)]


def paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables as a DataFrame: "table1".."table7"."""
    tables = {
        "table1": (TABLE1_CIFAR10, _ATTACK_COLS), "table2": (TABLE2_CIFAR10, _ATTACK_COLS),
        "table3": (TABLE3_IMAGENET, ["method", "attack", "IS_R", "IS_F", "FID_R", "FID_F"]),
        "table4": (TABLE4_CIFAR10, _ATTACK_COLS), "table5": (TABLE5_CIFAR10, _ATTACK_COLS),
        "table6": (TABLE6_CIFAR10, _ATTACK_COLS),
        "table7": (TABLE7_IMAGENET, ["method", "set", "attack", "L1_per_image"]),
    }
    if name not in tables:
        raise ValueError(f"unknown paper table {name!r}; known: {sorted(tables)}")
    rows, cols = tables[name]
    return pd.DataFrame(rows, columns=cols)


def with_paper(ours: pd.DataFrame, paper: pd.DataFrame, label: str = "CIFAR-10") -> pd.DataFrame:
    """Interleave our rows and the paper's (method column suffixed " (paper, CIFAR-10)").

    Our spread columns (``<column>_std``, ``n_seeds``) are left out: the paper reports one run,
    so the comparison shows our means beside its numbers."""
    ours = ours[[c for c in ours.columns if not c.endswith("_std") and c != "n_seeds"]]
    p = paper.copy()
    p["method"] = p["method"] + f" (paper, {label})"
    cols = [c for c in ours.columns if c in p.columns]
    out = []
    for _, row in ours.iterrows():
        out.append(row.to_dict())
        match = p[p["method"].str.startswith(row["method"] + " (")]
        out += [r[cols].to_dict() for _, r in match.iterrows()]
    return pd.DataFrame(out, columns=ours.columns)


def paper_closed(at: str = "8/255") -> dict[str, float]:
    """The share of the forget-set L1 gap the paper's UMA closed (Table 7):
    ``1 - L1(I3, I1) / L1(I2, I1)`` per method, e.g. I2I 0.958 at 8/255."""
    t7 = paper_table("table7")
    f = t7[t7["set"] == "forget"].set_index(["method", "attack"])["L1_per_image"]
    return {m: 1 - f[(m, at)] / f[(m, "none")] for m in t7["method"].unique()}
