# %% [markdown]
# # 00 - Setup: data, environment and the original model
#
# This series reproduces the experiments of *Verifying Robust Unlearning: Probing Residual
# Knowledge in Unlearned Models* (Xuan & Li): unlearn a classifier with seven methods, then ask
# whether the "forgotten" knowledge is still in the weights with the **Unlearning Mapping
# Attack (UMA)**, which searches for small input perturbations that make the unlearned model
# reproduce the original model's outputs.
#
# | notebook | regenerates | outputs in `figures/<profile>/` |
# |---|---|---|
# | 00 setup | - (data, original model) | `samples.png`, `original_model.csv` |
# | 01 discriminative unlearning | "No Atk" columns of Tables 1-2 | `unlearning_classwise.csv`, `unlearning_instancewise.csv`, `unlearning_methods.png` |
# | 02 UMA attack | Tables 1-2, Figure 1 | `table1_classwise.csv`, `table2_instancewise.csv`, `fig1_uma_examples.png`, `uma_loss.png` |
# | 03 generative MAE | Table 3, Table 7, Figures 2-3 / 6-7 | `table3_generative.csv`, `table7_l1.csv`, `fig2_i2i.png`, `fig3_salun.png` |
# | 04 defences | Tables 4-6 | `table4_adversarial_unlearning.csv`, `table5_purification_unaware.csv`, `table6_purification_aware.csv` |
# | 05 ablations | Figures 4-5 | `fig4_ablation_steps.png`, `fig5_ablation_stepsize.png` |
#
# **Profiles.** `paper` uses the paper's settings (CIFAR-10, ResNet-50, 182 epochs), which need
# the CIFAR files and a GPU. `quick` (the default of `make reproduce`) runs the same pipeline on
# the real Fashion-MNIST with a small CNN so that the whole series runs on two CPU cores (the
# README gives the measured time); the collapsed list below says exactly how it deviates from
# the paper. `smoke` runs every code path at toy sizes (tests).

# %% tags=["parameters", "hide-input"]
PROFILE = "quick"   # "smoke" | "quick" | "paper"
SEEDS = None        # None: the profile's seeds (quick 0, 1, 2), or a list such as [3]
FORCE = False       # rebuild cached artifacts
INTERACTIVE = False # papermill runs headless; set True in JupyterLab for widgets
DEVICE = "cpu"      # or "cuda"
OVERRIDES = {}      # config overrides, e.g. {"plugins": ["my_lab.uniform"], "methods+": "Uniform"}

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from umalib.reporting import plots
from umalib.reporting.files import publish_table, save_figure
from umalib.reporting.notebook import finish, setup

# cfg: the profile; runs: one experiment per seed (tables are mean ± std over them);
# exp: the first seed's experiment, for single-run figures; board: None (no claims are tested here);
# RESULTS: the numbers the tests read.
cfg, runs, exp, board, RESULTS = setup(PROFILE, SEEDS, DEVICE, FORCE, overrides=OVERRIDES)

# %% [markdown]
# ## Environment
# Versions, threads, device and where cached artifacts live.

# %%
from umalib.reporting.files import environment
env = environment(DEVICE)
RESULTS["environment"] = env  # the site's footer names it
from umalib.reporting.format import Shown
display(Shown(pd.DataFrame({"item": list(env), "value": list(env.values())}), "Environment of this run"))

# %% [markdown]
# ## Data
# The embedded default is the real Fashion-MNIST (Debian's `dataset-fashion-mnist`), split with a
# seeded 10% per-class validation hold-out as the reference code does for CIFAR-10, then
# subsampled (class-balanced, seeded) to the profile's training size.

# %%
sp = exp.splits
summary = pd.DataFrame([
    {"split": "train", "images": len(sp.y_train)}, {"split": "validation", "images": len(sp.y_val)},
    {"split": "test", "images": len(sp.y_test)}])
from umalib.reporting.files import shown_path
print(f"{sp.name} from {shown_path(sp.source)}: {sp.shape} images, {sp.num_classes} classes; fingerprint {sp.fingerprint}")
display(Shown(summary, "Splits"))
fig = plots.sample_grid(sp.x_train, sp.y_train, sp.classes, per_class=8)
save_figure(fig, "samples", PROFILE); plt.show()

# %% [markdown]
# ## The original model
# Trained (or loaded from the content-addressed cache) with SGD on the whole training split.
# UA and MIA only mean something if the original *memorises* its training data (the paper's
# originals reach 100% forget-set accuracy and MIA 0.98), so we report training accuracy too.

# %%
from umalib.experiments import tables
df = publish_table(runs.map(tables.original_table), "original_model", PROFILE, title="Original model",
                   notes=[f"profile {PROFILE}; seconds = training time when the artifact was built"], by=["model"])
RESULTS.update(train_acc=float(df.train_acc[0]), test_acc=float(df.test_acc[0]),
               cache_hit=bool(all(e.original().hit for _, e in runs)))

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for seed, e in runs:
    losses = e.original().meta["losses"]
    ax.plot(range(1, len(losses) + 1), losses, marker="o", label=f"seed {seed}")
ax.set_xlabel("epoch"); ax.set_ylabel("training loss"); ax.set_yscale("log"); ax.legend(fontsize=8)
ax.set_title(f"original model, {PROFILE} profile")
save_figure(fig, "original_training", PROFILE); plt.show()

# %% [markdown]
# **Reading.** The paper's CIFAR-10 ResNet-50 reaches 94.13% test accuracy with 100% on the
# forget set. On the quick profile we look for >= 88% test and >= 98% training accuracy: the
# memorisation regime in which forgetting is measurable.

# %% tags=["remove-cell"]
finish(RESULTS, "00_setup", PROFILE, board)
