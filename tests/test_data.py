import pytest
import torch

from umalib.config import DataConfig, ScenarioConfig
from umalib.data import BatchLoader, ScenarioData, load_splits, make_scenario

from conftest import requires_fmnist

pytestmark = requires_fmnist


@pytest.fixture(scope="module")
def splits():
    return load_splits(DataConfig(dataset="fashion-mnist", train_subset=1000, test_subset=300), seed=0)


def test_splits_real_data(splits):
    assert splits.shape == (1, 28, 28) and splits.num_classes == 10
    assert len(splits.y_train) == 1000 and len(splits.y_test) == 300
    assert len(splits.y_val) == 6000  # 10% of each class of the 60k official training set
    assert torch.bincount(splits.y_train, minlength=10).tolist() == [100] * 10
    assert torch.bincount(splits.y_val, minlength=10).tolist() == [600] * 10
    assert splits.x_train.dtype == torch.uint8


def test_splits_seeded(splits):
    again = load_splits(DataConfig(dataset="fashion-mnist", train_subset=1000, test_subset=300), seed=0)
    other = load_splits(DataConfig(dataset="fashion-mnist", train_subset=1000, test_subset=300), seed=1)
    assert torch.equal(again.x_train, splits.x_train) and again.fingerprint == splits.fingerprint
    assert not torch.equal(other.x_train, splits.x_train) and other.fingerprint != splits.fingerprint


def test_val_and_train_disjoint():
    sp = load_splits(DataConfig(dataset="fashion-mnist"), seed=0)
    assert len(sp.y_train) + len(sp.y_val) == 60000
    # no training image is also a validation image (compare hashes of the pixel rows)
    h = lambda x: set(map(hash, map(bytes, x.flatten(1).numpy())))
    assert len(h(sp.x_train[:5000]) & h(sp.x_val)) <= 5  # Fashion-MNIST has a few exact duplicates


def test_classwise_scenario(splits):
    sc = make_scenario(splits, "classwise", ScenarioConfig(forget_classes=(0, 3)), 0)
    assert set(splits.y_train[sc.forget_idx].tolist()) == {0, 3}
    assert not set(splits.y_train[sc.retain_idx].tolist()) & {0, 3}
    assert len(sc.forget_idx) + len(sc.retain_idx) == len(splits.y_train)
    sd = ScenarioData(splits, sc)
    assert not set(sd.test[1].tolist()) & {0, 3}  # class-wise TA excludes the forgotten classes
    (xm, ym), (xn, yn) = sd.mia_shadow()
    assert len(ym) == len(yn) == len(sd.test[1]) and not set(ym.tolist()) & {0, 3}
    (xm, ym), (xn, yn) = sd.mia_shadow(50)
    assert len(ym) == len(yn) == 50


def test_instancewise_scenario(splits):
    sc = make_scenario(splits, "instancewise", ScenarioConfig(forget_count=100), 0)
    assert len(sc.forget_idx) == 100 and len(set(sc.forget_idx.tolist())) == 100
    assert torch.equal(sc.forget_idx, make_scenario(splits, "instancewise", ScenarioConfig(forget_count=100), 0).forget_idx)
    assert not torch.equal(sc.forget_idx, make_scenario(splits, "instancewise", ScenarioConfig(forget_count=100), 1).forget_idx)
    sd = ScenarioData(splits, sc)
    assert len(sd.test[1]) == len(splits.y_test)
    x, y = sd.attack_subset(30, 0)
    assert len(y) == 30 and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_scenario_errors(splits):
    with pytest.raises(ValueError, match="not in the dataset"):
        make_scenario(splits, "classwise", ScenarioConfig(forget_classes=(12,)), 0)
    with pytest.raises(ValueError, match="forget_count"):
        make_scenario(splits, "instancewise", ScenarioConfig(forget_count=5000), 0)
    with pytest.raises(ValueError, match="scenario kind"):
        make_scenario(splits, "random", ScenarioConfig(), 0)


def test_batch_loader(splits):
    bl = BatchLoader(splits.x_train, splits.y_train, 300, shuffle=True, seed=0)
    assert len(bl) == 4
    xs = [x for x, _ in bl]
    assert xs[0].dtype == torch.float32 and float(xs[0].max()) <= 1
    assert sum(len(x) for x in xs) == 1000
    first_epoch_order = torch.cat([y for _, y in BatchLoader(splits.x_train, splits.y_train, 300, True, 0)])
    second = torch.cat([y for _, y in bl])  # bl is now in its second epoch: reshuffled
    assert not torch.equal(first_epoch_order, second)
    with pytest.raises(ValueError):
        BatchLoader(splits.x_train, splits.y_train[:5])
