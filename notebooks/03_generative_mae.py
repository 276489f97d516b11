# %% [markdown]
# # 03 - Generative unlearning with a masked autoencoder (Table 3, Table 7, Figures 2-3 / 6-7)
#
# The paper's generative experiment (Section 5.1, Appendix A.3) unlearns an MAE used as an
# **inpainter** and then attacks it:
#
# * **I0** ground truth, **Im** = I0 with a centred square of patches masked (as the I2I code does),
# * **I1** = the original MAE's inpainting of Im,
# * **I2** = the unlearned MAE's inpainting of Im (forget classes: should *not* look like I1),
# * **I3** = the unlearned MAE's inpainting of **Im + delta**, where UMA chose delta to make the
#   output match I1 (bounded at 8/255, or unbounded: for a generator only the output matters).
#
# Methods: **I2I** (encoder-latent distillation: retain images keep the original's latent, forget
# images are pulled to the latent of a noise image; only the encoder trains) and **SalUn** for the
# MAE (saliency-masked training towards noise-like outputs on the forget set, see
# `umalib/unlearn/generative/` for the exact objective). No pretrained ImageNet MAE can be
# downloaded here, so the MAE is trained in the project on the profile's dataset (quick:
# Fashion-MNIST; forget classes 0-4, retain 5-9, mirroring I2I's half/half split).
#
# **The paper profile** runs the paper's model instead: the official ImageNet ViT-MAE
# (`facebook/vit-mae-base`, through `transformers`; `pip install 'umalib[hf]'`) loaded from
# `<data dir>/vit-mae-base`, on a seeded sample of ImageNet-1k JPEG folders in
# `<data dir>/imagenet`, with the standard Inception FID (see the README). Neither the weights nor
# ImageNet can be installed on the machines this project is built on, so that route has not been
# run at scale here: its code path is tested on a tiny random-weight ViT-MAE and a few real
# ImageNet images (`tests/test_generative_pretrained.py`).
#
# **Metrics.** Every output is the generated square pasted into the clean image (outside the
# masked square an inpainter returns its input, so an attacked output would carry the
# perturbation there one-to-one; the paper's Table 7 values, ~0.3 grey levels per pixel after an
# 8/255 attack, show the perturbation is not counted there either), and UMA's loss is the MSE on
# that square. L1 to I1 (Table 7) is the sum of absolute differences per image in 0-255 units,
# and the per-pixel mean over the square.
#
# IS and FID go through `torchmetrics` (`FrechetInceptionDistance` / `InceptionScore` with a
# custom feature module). The standard TF-Inception FID network is installed (`make venv`) and
# the paper profile uses it, but here it would read a 28x28 grey square upscaled tenfold, and the
# Inception FID needs at least 2,048 images per side (quick has 200), so quick and smoke use a
# **domain feature network**:
# a small classifier of the *inpainted square alone*, trained here on the MAE's training images
# (`umalib/models/region_classifier.py`). A whole-image classifier (tried first) cannot
# see the unlearning: it reads the class from the untouched context and scores 84-91 %
# on original, unlearned and attacked outputs alike. The square classifier's 8-d penultimate
# layer, standardised on the training images, is the FID feature (quick: 200 images per side =
# 25 x D, so the covariances are full rank; 4 and 16 dims separated the unlearned outputs less
# well, see `GenerativeConfig.feature_dim`); its logits give IS; its **accuracy on the generated square**
# (Acc) says how much class content the model drew where it was asked to inpaint. All three are
# *domain* metrics, not comparable in absolute value with the paper's Inception scores.

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
from IPython.display import Markdown, display

from umalib.reporting import plots
from umalib.reporting.files import publish_table, records, save_figure, write_table
from umalib.reporting.notebook import finish, setup

# cfg: the profile; runs: one experiment per seed (tables are mean ± std over them);
# exp: the first seed's experiment, for single-run figures; board: this notebook's claims, shown
# first and decided at the end; RESULTS: the numbers the tests read.
cfg, runs, exp, board, RESULTS = setup(PROFILE, SEEDS, DEVICE, FORCE, notebook="03", overrides=OVERRIDES)

# %%
from umalib.experiments.generative import budget_reach, l1_ratio, separation
from umalib.reporting.findings import budget_findings, input_size_findings, input_size_view
from umalib.reporting.format import Shown
from umalib.reporting.paper import paper_closed, paper_table
gen = exp.generative
g = cfg.generative
print(gen.describe())

# %%
built = gen.original(); mae, meta = built.model, built.meta
if "losses" in meta:  # trained here (the pretrained route has no training curve)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(meta["losses"]) + 1), meta["losses"], marker="o")
    ax.set_xlabel("epoch"); ax.set_ylabel("masked-patch MSE"); ax.set_title(f"MAE training (seed {runs.seeds[0]})")
    save_figure(fig, "mae_training", PROFILE); plt.show()
    RESULTS["mae_losses"] = meta["losses"]

# %% [markdown]
# How good is the target UMA recovers towards? L1(I1, I0): the original inpainter's error on
# the masked square (0-255 units per pixel). The quick MAE trains half its batches on the
# evaluation's square mask, which lowers this error compared with random masks alone. The
# square classifier's accuracy on ground-truth squares bounds what Acc can show.

# %%
err = publish_table(runs.map(lambda e: e.generative.original_error()), "gen_original_error", PROFILE,
                    columns=["set", "L1_per_image", "L1_per_pixel"], by=["set"],
                    title="L1(I1, I0): the original MAE's inpainting error on the masked square (0-255 units)",
                    notes=list(cfg.notes))
feat_acc = runs.map(lambda e: e.generative.feature_net().meta["test_acc"])
print("square classifier, accuracy on ground-truth test squares: "
      + ", ".join(f"seed {s} {a:.1f}%" for s, a in feat_acc.items()))
RESULTS["original_error"] = records(err, "set"); RESULTS["feature_net_acc"] = feat_acc

# %% [markdown]
# ## Tables 3 and 7

# %%
t3s, t7s, _ = runs.unzip(lambda e: e.generative.tables())
feat_note = f"{gen.metric_note()} (torchmetrics, custom feature modules); FID against the ground truth of the same side"
t3 = publish_table(t3s, "table3_generative", PROFILE,
                   columns=["method", "attack", "IS_R", "IS_F", "FID_R", "FID_F", "Acc_R", "Acc_F"],
                   title="Table 3 (ours): IS, FID and square-classifier accuracy (%) of MAE outputs, retain (R) / forget (F)",
                   notes=[feat_note, *cfg.notes], by=["method", "attack"])
t7 = publish_table(t7s, "table7_l1", PROFILE, columns=["method", "set", "attack", "L1_per_image", "L1_per_pixel"],
                   title="Table 7 (ours): L1 between unlearned and original outputs (0-255 units)",
                   notes=[f"images are {gen.cfg.channels}x{gen.cfg.image_size}x{gen.cfg.image_size} (the generated square: "
                          f"{int(gen.region.sum())} pixels); the paper's are 3x224x224",
                          "attack none: L1(I2, I1); attacked: L1(I3, I1)", *cfg.notes], by=["method", "set", "attack"])
RESULTS["table3"] = t3.to_dict("records"); RESULTS["table7"] = t7.to_dict("records")
RESULTS["l1_ratio"] = {m: l1_ratio(t7, m) for m in ("I2I", "SalUn")}
# Does a metric see the unlearning? I2 vs the original, in units of the seeds' spread: it should
# separate on the forget side (> 3x) and not on the retain side.
sep = {f"{m} {c}": separation(t3, c, m) for m in ("I2I", "SalUn")
       for c in ("FID_F", "FID_R", "IS_F", "IS_R", "Acc_F", "Acc_R")}
display(Shown(pd.DataFrame([{"method, metric": k, **v} for k, v in sep.items()]),
              "How far I2 moved from the original's outputs, in units of the seeds' spread"))
RESULTS["separation"] = sep
display(Shown(paper_table("table3"), "The paper's Table 3 (ImageNet-1k, 224x224 ViT-MAE, Inception IS/FID), for comparison"))
display(Shown(paper_table("table7"), "The paper's Table 7 (ImageNet-1k, 3x224x224 images), for comparison"))

# %% [markdown]
# ## Figures 2-3 / 6-7: I0, Im, I1, I2, I3

# %%
for method, name in (("I2I", "fig2_i2i"), ("SalUn", "fig3_salun")):
    for side in ("forget", "retain"):
        fig = plots.image_rows(gen.grid(method, side), n=8, title=f"{method}: {side} classes (held-out test images; seed {runs.seeds[0]})")
        save_figure(fig, name if side == "forget" else f"{name}_retain", PROFILE); plt.show()

# %% [markdown]
# ## Where, in budget, does the inpainter give way?
#
# The share of the L1 gap UMA closes, 1 - L1(I3, I1) / L1(I2, I1), on the forget and the retain
# set at growing L-inf budgets (steps eps/8, clamped to [1, 4]/255, 8/255 being Table 7's attack)
# and unbounded. At a budget, each image keeps the best of the attacks at that budget or below.
#
# **How to read it.** The table and the lines under the figure are computed in this run; the
# scoreboard at the top decides the paper's claims on them (the paper closes 96 % (I2I) and
# 91 % (SalUn) of the forget-set gap at 8/255). The attacker controls only the visible context
# (the masked square never reaches the encoder): the line under the figure gives how many input
# values that is, against on the order of 10^5 in the paper's 3x224x224 input. The largest
# change an L-inf perturbation of size eps can make to a linear response w.x is eps x ||w||_1,
# which grows with the number of values the attacker controls; these runs alone do not isolate
# input size from the other differences (model size, pretraining, data).

# %%
curves = runs.map(lambda e: e.generative.budget_curve())
bc = publish_table(curves, "gen_budget", PROFILE, columns=["method", "set", "eps", "L1_per_image", "closed"],
                   by=["method", "set", "eps"], title="UMA budget curve: share of the L1 gap closed",
                   notes=["eps in units of 1/255, inf = unbounded; closed = 1 - L1(I3, I1) / L1(I2, I1)",
                          *cfg.notes])
fig = plots.budget_curve(bc, paper=paper_closed(), title="UMA on the unlearned MAE: share of the L1 gap closed (mean ± std over seeds)")
save_figure(fig, "fig_gen_budget", PROFILE); plt.show()
reach = budget_reach(bc, 0.9)
n_visible = int((~gen.region).sum()) * gen.cfg.channels
RESULTS["budget"] = bc.to_dict("records")
RESULTS["budget_90"] = {f"{m} {s}": e for (m, s), e in reach.items()}
display(Markdown("\n".join(f"- {f}" for f in budget_findings(
    bc, reach, n_visible, f"{gen.cfg.channels}x{gen.cfg.image_size}x{gen.cfg.image_size}"))))

# %% [markdown]
# ## Does the share closed depend on how many input values the attacker controls?
#
# The paper's MAE reads 3x224x224 ImageNet images; ours reads 28x28 grey ones, so its attacker
# controls two orders of magnitude fewer input values. This study changes that number and
# nothing else. The **same images** (the profile's Fashion-MNIST test and training images,
# resized with bilinear interpolation; resizing up adds no detail, so the content is the same
# at every size) are inpainted by the **same transformer**: the patch size grows with the image
# (quick: 4 and 16 px at 28 and 112 px), so the 7x7 patch grid, the masked square, the 49
# tokens and every transformer block are identical; only the patch embedding and the pixel
# head grow.
# At each size an original MAE is trained and unlearned (I2I, SalUn) with the profile's
# settings, and UMA attacks it at the study's budgets (quick: 8/255 and unbounded) and the
# share closed is computed as in the budget curve above. FID is computed after an exact area
# downsampling back to the native 28 px with the native square classifier, so every size is
# measured with the same instrument. Quick stops at two sizes to keep its series near 20
# minutes (each size trains and unlearns two more MAEs per seed); more sizes are one override
# away, e.g. `python -m umalib reproduce --only 03 --set 'input_size.sizes=[28,56,112,224]'`
# (with `$UMALIB_FIGURES` pointing elsewhere).
#
# Why this design: a larger model or a different mask would change the task or the capacity
# along with the input count. What it cannot show: natural high-resolution detail (an
# upsampled image has none), colour, or a pretrained model; it isolates the number of values
# the attacker may perturb. Every size scores the same first held-out images per side (the
# native size reads them from the attacks above: UMA starts from zero and takes per-image sign
# steps, so an image's attack does not depend on the rest of its batch).

# %% tags=["hide-input"]
from umalib.budget import to_255
from umalib.experiments import input_size
no_study = input_size.why_not(cfg)
if no_study is None:
    arch = input_size.architecture_table(exp)
    display(Shown(arch, "The MAE at each input size (built from the configuration): the blocks "
                        "are the same; the patch embedding and the pixel head grow"))
    RESULTS["input_size_architecture"] = arch.to_dict("records")
else:
    print(f"This profile runs no input-size study: {no_study}.")

# %% tags=["hide-input"]
if no_study is None:
    at, st, native = to_255(g.eps), cfg.input_size, input_size.native_size(exp)
    study = write_table(
        runs.map(input_size.study_table), "gen_input_size", PROFILE,
        columns=input_size.STUDY_COLUMNS, by=input_size.STUDY_KEYS,
        title="Input-size study: share of the L1 gap closed and domain FID, per input size",
        notes=[f"images resized ({st.interpolation}) from {native} px; patch scaled with the size "
               f"(same {gen.cfg.grid}x{gen.cfg.grid} grid and blocks); "
               f"the first {st.samples} held-out images per side at every size",
               "eps in units of 1/255 (0: no attack, I2; inf: unbounded); closed = 1 - L1(I3, I1) "
               "/ L1(I2, I1), I3 per image the best of the attacks up to eps",
               f"FID: domain FID against the ground truth of the set, at {native} px (area-"
               f"downsampled), with the {native} px square classifier; FID_original: the "
               "original's outputs (I1)",
               "original_L1_per_pixel: L1(I1, I0) per value of the generated square, 0-255 units",
               *cfg.notes])
    # shares in %; the original's own error and FID are in the lines under the figure
    display(Shown(
        input_size_view(study, at),
        f"Input-size study at {at:g}/255 (mean ± std over {len(runs.seeds)} seeds; every budget "
        "in gen_input_size.csv): share of the L1 gap closed, domain FID of I2 and I3 "
        f"(at {native} px)"))
    paper_x = input_size.paper_input_values(gen)
    fig = plots.input_size_curve(study, at, paper=paper_closed(), paper_values=paper_x,
                                 title=f"UMA at {at:g}/255 on the unlearned MAE, by input size "
                                       "(mean ± std over seeds)")
    save_figure(fig, "fig_gen_input_size", PROFILE); plt.show()
    display(Markdown("\n".join(f"- {f}" for f in input_size_findings(
        study, at, paper=paper_closed(), paper_values=paper_x))))
    RESULTS["input_size"] = study.to_dict("records")
    board.show([f"ours-gen-size{k}-{m}" for m in ("i2i", "salun") for k in ("", "-90")],
               "The study's reading, decided by the project's rule on the per-seed rows")

# %% [markdown]
# **How to read it.** The verdicts just above compare, seed by seed, the forget-set share closed
# at 8/255 at the largest size with that at the smallest (does it rise?), and test the paper's
# 90 % at our largest size (has it got there?). Whether the line would reach the paper's points
# is not measured here: the paper's input count lies beyond the largest size studied here, and
# its images, model and pretraining differ as well; the figure places the paper's points on
# the same axis so that the remaining distance can be seen, not closed.

# %% [markdown]
# **Reading.** Unlearning worked if, on the forget side, I2 is far from I1 (large L1, FID up,
# IS down) while the retain side stays close. UMA succeeded if I3 is close to I1 again on the
# forget side: the paper reports L1 per image falling from 1,140,778 to 48,317 (I2I) and from
# 2,790,552 to 242,029 (SalUn) at 8/255, and IS/FID of attacked forget outputs back near the
# original's. The scoreboard at the top of this page decides these claims on our seeds.

# %% tags=["remove-cell"]
finish(RESULTS, "03_generative_mae", PROFILE, board)
