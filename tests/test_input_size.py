"""Notebook 03's input-size study: the same transformer at every size, only the input grows;
its configuration refused before compute; its scores built from the budget curve's rule.
(The smoke notebook run executes the study itself at two sizes: tests/test_notebooks.py.)"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from conftest import requires_fmnist
from umalib import config
from umalib.experiments import input_size
from umalib.experiments.discriminative import Experiment
from umalib.experiments.generative import budget_closed, nested_best
from umalib.reporting.claims import AtEnd, NotTestable


@pytest.fixture(scope="module")
def quick_exp():
    return Experiment(config.load("quick"), progress=False)


@requires_fmnist
def test_the_transformer_and_the_grid_are_the_same_at_every_size(quick_exp):
    # quick's sizes and two beyond them (224 px is the paper's image size)
    rows = [input_size.architecture(input_size.stages_at(quick_exp, s)) for s in (28, 56, 112, 224)]
    df = pd.DataFrame(rows)
    assert df["block_params"].nunique() == 1 and df["block_params"].iloc[0] > 0
    assert set(df["grid"]) == {7} and set(df["tokens"]) == {49}
    assert list(df["patch"]) == [4, 8, 16, 32]
    # what grows: the input values (x 4 per doubling) and the patch embedding / pixel head
    assert list(df["input_values"]) == [640 * 4 ** k for k in range(4)]
    assert df["patch_embed_params"].is_monotonic_increasing
    assert df["pixel_head_params"].is_monotonic_increasing
    # the mask is the same share of the image at every size
    regions = [input_size.stages_at(quick_exp, s).region.float().mean().item() for s in (28, 112)]
    assert regions[0] == pytest.approx(regions[1])


@requires_fmnist
def test_the_native_size_is_notebook_03s_own_stages_and_others_have_their_own_keys(quick_exp):
    native = input_size.stages_at(quick_exp, 28)
    assert native is quick_exp.generative
    big = input_size.stages_at(quick_exp, 56)
    assert big.cfg.image_size == 56 and big.cfg.patch_size == 8
    assert big.g.eval_samples == quick_exp.profile.input_size.samples
    assert big.original_key() != native.original_key()
    assert "resize 56 bilinear" in big.fingerprint and "resize" not in native.fingerprint
    # the images are the real ones, resized: area-averaged back, they are close to the
    # originals (bilinear blurs sharp edges a little), and far from other images
    x = native.splits.x_test[:8]
    up = big.images(x)
    assert up.shape == (8, 1, 56, 56) and 0 <= up.min() and up.max() <= 1
    back = torch.nn.functional.interpolate(up, size=(28, 28), mode="area")
    own = (back - native.images(x)).abs().mean()
    other = (back - native.images(x).roll(1, 0)).abs().mean()
    assert own < 0.05 and other > 5 * own


@requires_fmnist
@pytest.mark.parametrize("size", [0, 30, 42, -28])
def test_a_size_that_would_change_the_grid_is_refused(quick_exp, size):
    with pytest.raises(ValueError, match="whole multiples"):
        input_size.stages_at(quick_exp, size)


@pytest.mark.parametrize("bad, match", [
    ({"input_size.samples": 500}, "input_size.samples"),
    ({"input_size.sizes": (56, 28)}, "input_size.sizes"),
    ({"input_size.budget_eps": (3 / 255,)}, "input_size.budget_eps"),
    ({"input_size.interpolation": "lanczos"}, "input_size.interpolation"),
    ({"input_size.samples": 10}, "FID needs"),
])
def test_bad_study_settings_are_refused_when_the_profile_is_built(bad, match):
    with pytest.raises(ValueError, match=match):
        config.load("quick", **bad)


def test_a_pretrained_mae_runs_no_study():
    p = config.load("paper")
    assert p.input_size.sizes == () and "empty" in input_size.why_not(p)
    # a pretrained MAE has one input size: the study is off, whatever the sizes say
    p = config.load("paper", **{"input_size.sizes": (224, 448), "input_size.samples": 10 ** 6})
    assert "pretrained" in input_size.why_not(p)
    assert input_size.why_not(config.load("quick")) is None


def test_nested_best_keeps_per_image_the_closest_output_so_far():
    torch.manual_seed(0)
    i1 = torch.rand(5, 1, 4, 4)
    i2 = torch.rand(5, 1, 4, 4)
    a, b = torch.rand(5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    best = nested_best(i1, i2, [(2.0, a), (4.0, b)])
    d = lambda x: (x - i1).abs().flatten(1).sum(1) * 255  # noqa: E731
    expect = torch.where((d(b) < d(a)).view(-1, 1, 1, 1), b, a)
    assert torch.equal(best[0][1], a) and torch.equal(best[1][1], expect)
    assert torch.allclose(best[1][2], torch.minimum(d(a), d(b)).double())
    rows = budget_closed(i1, i2, [(2.0, a), (4.0, b)])
    gap = float(d(i2).double().mean())
    assert rows[1]["closed"] == pytest.approx(1 - float(best[1][2].mean()) / gap)
    with pytest.raises(ValueError, match="increasing"):
        nested_best(i1, i2, [(4.0, a), (2.0, b)])


def test_a_claim_reads_the_study_at_its_smallest_and_largest_size():
    seeds = pd.DataFrame({
        "seed": [0, 0, 1, 1, 0, 1], "size": [28, 112, 28, 112, 56, 56],
        "method": ["I2I"] * 6, "set": ["forget"] * 6, "eps": [8.0] * 6,
        "closed": [0.2, 0.5, 0.25, 0.55, 0.3, 0.35]})
    where = (("method", "I2I"), ("set", "forget"), ("eps", 8.0))
    top = AtEnd("gen_input_size", "closed", "size", "max", where).values({"gen_input_size": seeds})
    low = AtEnd("gen_input_size", "closed", "size", "min", where).values({"gen_input_size": seeds})
    assert list(top) == [0.5, 0.55] and list(low) == [0.2, 0.25]
    mid = AtEnd("gen_input_size", "closed", "size", 56, where).values({"gen_input_size": seeds})
    assert list(mid) == [0.3, 0.35]
    with pytest.raises(NotTestable):
        AtEnd("gen_input_size", "closed", "size", "max", (("method", "SalUn"),)).values(
            {"gen_input_size": seeds})
    assert math.isclose(top.mean() - low.mean(), 0.3)


@requires_fmnist
def test_the_smoke_study_scores_both_sizes(smoke_run):
    base, _ = smoke_run
    df = pd.read_csv(base / "figures" / "smoke" / "gen_input_size.csv")
    assert set(df["size"]) == {28, 56}
    assert {"closed", "closed_std", "n_seeds", "FID", "original_L1_per_pixel"} <= set(df.columns)
    # nested budgets: the share closed never falls as the budget grows
    for _, g in df.groupby(["size", "method", "set"]):
        assert g.sort_values("eps").closed.is_monotonic_increasing
    # per seed, closed is the L1 column's share of the unattacked gap (the eps 0 row)
    seeds = pd.read_csv(base / "figures" / "smoke" / "gen_input_size_seeds.csv")
    for _, g in seeds.groupby(["seed", "size", "method", "set"]):
        gap = g[g.eps == 0].L1_per_image.iloc[0]
        # (the CSV holds 6 significant digits)
        assert g.closed.to_numpy() == pytest.approx(1 - g.L1_per_image.to_numpy() / gap, abs=1e-5)


def _aggregated(rows: list[tuple]) -> pd.DataFrame:
    cols = ["size", "input_values", "method", "set", "eps", "closed", "FID"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("closed", "FID", "FID_original", "original_L1_per_pixel"):
        df[c] = df.get(c, 1.0)
        df[f"{c}_std"] = 0.01
    return df


def _two_sizes() -> list[tuple]:
    """An aggregated study's rows at 28 and 56 px: clean, 8/255 and unbounded."""
    return [(s, 640 * s // 28, "I2I", "forget", e, c, f)
            for s, k in ((28, 0.0), (56, 0.2))
            for e, c, f in ((0.0, 0.0, 5.0), (8.0, 0.2 + k, 4.0), (math.inf, 0.7 + k / 2, 3.0))]


def test_at_budget_reads_one_budget_beside_the_clean_and_unbounded_rows():
    rows = _two_sizes()
    view = input_size.at_budget(_aggregated(rows), 8.0)
    assert list(view["size"]) == [28, 56]
    assert list(view["closed"]) == pytest.approx([0.2, 0.4])
    assert list(view["closed_unbounded"]) == pytest.approx([0.7, 0.8])
    assert list(view["FID_I2"]) == [5.0, 5.0] and list(view["FID"]) == [4.0, 4.0]
    with pytest.raises(ValueError, match="no rows at eps 3"):
        input_size.at_budget(_aggregated(rows), 3.0)


def test_the_notebook_view_gives_percent_shares_and_size_labels():
    from umalib.reporting.findings import input_size_view

    rows = _two_sizes()
    view = input_size_view(_aggregated(rows), 8.0)
    assert list(view["size"]) == ["28 px", "56 px"]
    assert list(view["% closed at 8/255"]) == pytest.approx([20.0, 40.0])
    assert list(view["% closed at 8/255_std"]) == pytest.approx([1.0, 1.0])
    assert list(view["% closed unbounded"]) == pytest.approx([70.0, 80.0])
    assert list(view["FID at 8/255"]) == [4.0, 4.0] and "input_values" not in view


def test_the_readme_holds_the_committed_input_size_table():
    from umalib.cache import REPO_ROOT
    from umalib.cli.claims import input_size_block

    study = REPO_ROOT / "figures" / "quick" / "gen_input_size.csv"
    if not study.is_file():
        pytest.skip("no committed quick run")
    readme = (REPO_ROOT / "README.md").read_text()
    assert input_size_block(pd.read_csv(study)) in readme, "run `python -m umalib claims --readme`"
