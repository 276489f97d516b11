"""The verifier for any model (issue #12): model routes, user data, the strength ladder, the
residual reference, the report, and every refusal."""

import json
import textwrap

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from umalib.cli import main
from umalib.data.user import load_image_dirs, load_npz, split_forget
from umalib.models import build_model
from umalib.models.loading import infer_umalib_arch, load_classifier, unwrap_state_dict
from umalib.reporting import verify_report
from umalib.verify import Share, ladder, verify

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


# ----------------------------------------------------------------------------- fixtures
def reference_resnet18(seed: int) -> tuple[dict, nn.Module]:
    """A checkpoint in the SalUn / Sparse reference code's layout (normalize buffers, then a
    torchvision ResNet-18 with a 3x3 stride-1 stem and no max-pool), and the network itself."""
    torch.manual_seed(seed)
    net = torchvision.models.resnet18(num_classes=10)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    net.eval()
    state = {"normalize.mean": torch.tensor(MEAN), "normalize.std": torch.tensor(STD),
             **net.state_dict()}
    return state, net


def reference_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net((x - mean) / std)


@pytest.fixture()
def cifar_npz(tmp_path):
    """A small .npz of 32x32x3 uint8 images (NHWC as CIFAR stores them), labels 0..9."""
    rng = np.random.default_rng(0)
    path = tmp_path / "small.npz"
    np.savez(path, x=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             y=np.repeat(np.arange(10), 4), x_test=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
             y_test=np.tile(np.arange(10), 2))
    return path


def cli(capsys, *args):
    code = main(["verify", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


FAST = ["--steps", "2", "--mia-shadow", "10", "--no-progress"]


def small_cnn(seed: int, width: int = 4, classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("cnn", in_channels=1, num_classes=classes, image_size=28, mean=[0.3],
                       std=[0.3], width=width).eval()


def perturbed(model: nn.Module, scale: float = 0.5) -> nn.Module:
    import copy

    m = copy.deepcopy(model)
    with torch.no_grad():
        m.fc.weight.mul_(scale)
        m.fc.bias.add_(0.3)
    return m


def gray_data(n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 10


# ----------------------------------------------------------------------------- model routes
@pytest.mark.parametrize("layout", ["plain", "module", "state_dict", "model_state_dict"])
def test_reference_layout_loads_and_matches_the_network(tmp_path, layout):
    state, net = reference_resnet18(0)
    if layout == "module":
        obj = {f"module.{k}": v for k, v in state.items()}
    elif layout == "state_dict":
        obj = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 182,
               "best_prec1": 94.1, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}
    elif layout == "model_state_dict":
        obj = {"model_state_dict": state, "epoch": 3}
    else:
        obj = state
    path = tmp_path / "ref.pth.tar"
    torch.save(obj, path)
    model, info = load_classifier(path, "torchvision:resnet18", cifar_stem=True)
    assert info["route"] == "torchvision" and info["num_classes"] == 10 and info["normalize"]
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), reference_forward(net, x), atol=1e-5)
    # without the CIFAR stem the 3x3 conv1 does not fit the 7x7 one: refused, named
    with pytest.raises(ValueError, match="does not fit torchvision resnet18"):
        load_classifier(path, "torchvision:resnet18")


def test_reference_layout_verifies_end_to_end_on_npz(tmp_path, cifar_npz, capsys):
    paths = []
    for name, seed, wrap in (("orig", 0, "plain"), ("unl", 1, "module"), ("retr", 2, "state_dict")):
        state, _ = reference_resnet18(seed)
        if wrap == "module":
            state = {f"module.{k}": v for k, v in state.items()}
        elif wrap == "state_dict":
            state = {"state_dict": state, "epoch": 1}
        p = tmp_path / f"{name}.pt"
        torch.save(state, p)
        paths.append(p)
    out = tmp_path / "rep.json"
    code, text, err = cli(capsys, "--original", paths[0], "--unlearned", paths[1], "--retrained",
                          paths[2], "--arch", "torchvision:resnet18", "--cifar-stem", "--data",
                          cifar_npz, "--forget-classes", "3", "--max-samples", "4", "--steps",
                          "1", "--mia-shadow", "10", "--relearn-steps", "0", "--no-progress",
                          "--json", out)
    assert code == 0, err
    rep = json.loads(out.read_text())
    assert rep["scenario"] == "classwise" and rep["forget_size"] == 4 and rep["samples"] == 4
    assert rep["attacks"][0]["residual"] is not None and "VERDICT" in text


def test_umalib_width_and_classes_are_read_from_the_checkpoint(tmp_path):
    m = small_cnn(0, width=8, classes=7)
    p = tmp_path / "quick.pt"
    torch.save(m.state_dict(), p)
    info = infer_umalib_arch(m.state_dict())
    assert (info["arch"], info["width"], info["num_classes"], info["in_channels"],
            info["image_size"]) == ("cnn", 8, 7, 1, 28)
    loaded, info = load_classifier(p)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), m(x))
    r = build_model("resnet18", in_channels=3, num_classes=5, image_size=32, mean=MEAN, std=STD, width=4)
    info = infer_umalib_arch(r.state_dict())
    assert (info["arch"], info["width"], info["num_classes"]) == ("resnet18", 4, 5)


def test_torchscript_and_user_factory_verify(tmp_path, monkeypatch):
    orig, unl = small_cnn(0), perturbed(small_cnn(0))
    ts = tmp_path / "unl_script.pt"
    torch.jit.save(torch.jit.trace(unl, torch.rand(2, 1, 28, 28)), ts)
    model, info = load_classifier(ts)
    assert info["route"] == "torchscript"
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        from torch import nn
        class Net(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU())
                self.head = nn.Linear(16, num_classes)
            def forward(self, x):
                return self.head(self.body(x))
        def make(num_classes):
            return Net(num_classes)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    importlib.invalidate_caches()
    torch.manual_seed(3)
    mine = importlib.import_module("my_models").make(10)
    torch.save({"model": mine.state_dict(), "epoch": 5}, tmp_path / "mine.pt")
    fac, finfo = load_classifier(tmp_path / "mine.pt", "my_models:make")
    assert finfo["route"] == "factory" and finfo["num_classes"] == 10
    x, y = gray_data()
    for m in (model, fac):
        rep = verify(orig, m, (x, y), steps=2, max_samples=10, progress=False)
        assert rep.samples == 10 and 0 <= rep.attacks[0].mapped_back.value <= 1


def test_export_program_needs_trust(tmp_path):
    m = small_cnn(0)
    prog = torch.export.export(m, (torch.rand(2, 1, 28, 28),))
    p = tmp_path / "m.pt2"
    torch.export.save(prog, p)
    with pytest.raises(ValueError, match="trust-program"):
        load_classifier(p)
    model, info = load_classifier(p, trust_program=True)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert info["route"] == "export" and torch.allclose(model(x), m(x), atol=1e-6)


def test_unwrap_names_what_it_found():
    with pytest.raises(ValueError, match="found keys 'epoch', 'args'"):
        unwrap_state_dict({"epoch": 3, "args": "x"})
    sd = {"module.a": torch.ones(1), "module.b": torch.zeros(2)}
    assert set(unwrap_state_dict({"model_state": sd})) == {"a", "b"}


# ----------------------------------------------------------------------------- verify API
def test_unlearned_equal_to_retrained_has_no_residual():
    orig, unl = small_cnn(0), perturbed(small_cnn(0))
    x, y = gray_data()
    rep = verify(orig, unl, (x, y), retrained=unl, strength="strong", steps=3, progress=False,
                 scenario="instancewise")
    for o in [rep.clean, *rep.attacks, rep.upper_bound]:
        assert o.residual.k == 0 and o.residual.n == 40
    assert rep.verdict.startswith("ROBUST")


def test_strong_is_never_weaker_than_standard():
    orig = small_cnn(0)
    unl = perturbed(orig, 0.2)
    retr = perturbed(small_cnn(1), 0.5)
    x, y = gray_data(60)
    rep = verify(orig, unl, (x, y), retrained=retr, strength="strong", steps=4, eps="4/255",
                 progress=False)
    std, strong = rep.attacks
    assert std.name == "standard" and strong.name == "strong"
    assert strong.mapped_back.k >= std.mapped_back.k and strong.residual.k >= std.residual.k
    # the strong verdict rests on the strong line; the standard report has only one line
    rep1 = verify(orig, unl, (x, y), retrained=retr, strength="standard", steps=4, eps="4/255",
                  progress=False)
    assert rep1.attacks[0].mapped_back == std.mapped_back and rep1.upper_bound is None
    assert len(ladder("strong", 4)) == 2 and ladder("strong", 4)[1].select == "agreement"


def test_dataloader_input_curve_and_report_files(tmp_path):
    orig, unl = small_cnn(0), perturbed(small_cnn(0))
    x, y = gray_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=7)
    rep = verify(orig, unl, loader, retain=gray_data(30, 1), test=gray_data(30, 2), steps=2,
                 eps_curve="2/255,8/255", progress=False)
    assert rep.scenario == "instancewise" and not np.isnan(rep.clean.MIA)
    assert [c["eps"] for c in rep.curve] == [2 / 255, 8 / 255]
    written = verify_report.save(rep, tmp_path / "r.json", tmp_path / "r.md")
    assert [p.name for p in written] == ["r.json", "r.png", "r.md"]
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["attacks"][0]["UA"]["lo"] <= d["attacks"][0]["UA"]["value"] <= d["attacks"][0]["UA"]["hi"]
    md = (tmp_path / "r.md").read_text()
    assert "| clean |" in md and "| 2/255 |" in md and "| 8/255 |" in md
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_share_interval_is_clopper_pearson():
    lo, hi = Share(7, 20).interval
    assert lo == pytest.approx(0.1539, abs=1e-3) and hi == pytest.approx(0.5922, abs=1e-3)
    assert Share(0, 10).interval[0] == 0 and Share(10, 10).interval[1] == 1


def test_verdict_rules():
    orig = small_cnn(0)
    x, y = gray_data()
    # a model attacked against itself is mapped back completely: residual knowledge (class-wise)
    rep = verify(orig, orig, (x, y), steps=1, scenario="classwise", progress=False)
    assert rep.verdict.startswith("RESIDUAL KNOWLEDGE") and "mapped-back" in rep.rule
    assert rep.decision == "RESIDUAL KNOWLEDGE"
    # plain callables are models too (here: the same network behind a function)
    rep = verify(lambda t: orig(t), lambda t: orig(t), (x, y), steps=1, scenario="instancewise",
                 progress=False)
    assert rep.verdict.startswith("UNDECIDED") and rep.decision == "UNDECIDED"
    assert rep.attacks[0].mapped_back.k == 40


# ----------------------------------------------------------------------------- user data
def image_tree(root, per_class: int):
    """forget/0, retain/1..2 and test/0..2 folders of random 28x28 grey PNGs."""
    rng = np.random.default_rng(per_class)
    for part, labels in (("forget", [0]), ("retain", [1, 2]), ("test", [0, 1, 2])):
        for c in labels:
            (root / part / str(c)).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                    root / part / str(c) / f"{i}.png")
    return root


def test_npz_and_image_folders(tmp_path, cifar_npz):
    arrays = load_npz(cifar_npz)
    x, y = arrays["all"]
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.float32 and float(x.max()) <= 1
    forget, retain, scen = split_forget(x, y, classes=[2, 3])
    assert scen == "classwise" and len(forget[1]) == 8 and len(retain[1]) == 32
    parts = load_image_dirs(image_tree(tmp_path / "imgs", per_class=2))
    assert parts["forget"][0].shape == (2, 1, 28, 28) and parts["retain"][1].tolist() == [1, 1, 2, 2]


def test_data_dir_cli(tmp_path, capsys):
    root = image_tree(tmp_path / "imgs", per_class=6)
    m = small_cnn(0)
    p = tmp_path / "m.pt"
    torch.save(m.state_dict(), p)
    code, text, err = cli(capsys, "--original", p, "--unlearned", p, "--data-dir", root, *FAST)
    assert code == 0, err
    assert "classwise" in text  # told from the folders' labels: forget classes not in retain/


@pytest.mark.parametrize("arrays,message", [
    ({"x": np.zeros((4, 5), np.uint8), "y": np.zeros(4, np.int64)}, "images must be"),
    ({"x": np.full((4, 28, 28), np.nan, np.float32), "y": np.zeros(4, np.int64)}, "NaN"),
    ({"x": np.full((4, 28, 28), 3.0, np.float32), "y": np.zeros(4, np.int64)}, r"\[0, 1\]"),
    ({"x": np.zeros((4, 28, 28), np.uint8), "y": np.zeros(3, np.int64)}, "one entry per image"),
    ({"x": np.zeros((4, 28, 28), np.uint8), "y": -np.ones(4, np.int64)}, ">= 0"),
    ({"x": np.zeros((4, 28, 28), np.uint8)}, "missing"),
])
def test_bad_npz_is_refused(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(ValueError, match=message):
        load_npz(p)


def test_pickled_npz_and_folder_errors_are_refused(tmp_path, capsys):
    p = tmp_path / "obj.npz"
    np.savez(p, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="refused"):
        load_npz(p)
    (tmp_path / "d" / "forget" / "cat").mkdir(parents=True)
    (tmp_path / "d" / "retain" / "dog").mkdir(parents=True)
    with pytest.raises(ValueError, match="classes.txt"):
        load_image_dirs(tmp_path / "d")
    with pytest.raises(ValueError, match="needs a retain/"):
        (tmp_path / "e" / "forget" / "0").mkdir(parents=True)
        load_image_dirs(tmp_path / "e")


# ----------------------------------------------------------------------------- CLI refusals
@pytest.fixture()
def pair(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(small_cnn(0).state_dict(), a)
    torch.save(perturbed(small_cnn(0)).state_dict(), b)
    npz = tmp_path / "d.npz"
    x, y = gray_data(40)
    np.savez(npz, x=x.numpy(), y=y.numpy())
    return a, b, npz


def test_cli_refusals(tmp_path, pair, capsys):
    a, b, npz = pair
    base = ["--original", a, "--unlearned", b, "--data", npz, *FAST]
    cases = [
        (["--forget-classes", "11"], "have no samples"),
        (["--forget-classes", "0", "--normalize", "0.5"], "--normalize"),
        (["--forget-classes", "0", "--normalize", "0.5,0.2"], "umalib classifiers store"),
        (["--forget-classes", "0", "--eps", "none"], "bounded"),
        (["--forget-classes", "0", "--eps-curve", "2/255,inf"], "bounded"),
        (["--forget-classes", "0", "--arch", "nope:make"], "cannot import"),
        (["--forget-classes", "0", "--arch", "torchvision:not_a_model"], "not a torchvision"),
        (["--forget-classes", "0", "--dataset", "cifar10"], "one of --dataset, --data"),
        ([], "--forget-classes or --forget-indices"),
    ]
    for extra, message in cases:
        code, _, err = cli(capsys, *base, *extra)
        assert code == 2 and message in err, (extra, err)
    # labels beyond the model's classes
    x, y = gray_data(20)
    np.savez(tmp_path / "big.npz", x=x.numpy(), y=(y + 5).numpy())
    code, _, err = cli(capsys, "--original", a, "--unlearned", b, "--data", tmp_path / "big.npz",
                       "--forget-classes", "5", *FAST)
    assert code == 2 and "labels go up to 14" in err
    # images the model cannot take
    np.savez(tmp_path / "rgb.npz", x=np.zeros((20, 32, 32, 3), np.uint8), y=np.arange(20) % 10)
    code, _, err = cli(capsys, "--original", a, "--unlearned", b, "--data", tmp_path / "rgb.npz",
                       "--forget-classes", "1", *FAST)
    assert code == 2 and "cannot take images of shape (3, 32, 32)" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_refuses_missing_cuda_in_one_line(pair, capsys):
    a, b, npz = pair
    code, _, err = cli(capsys, "--original", a, "--unlearned", b, "--data", npz,
                       "--forget-classes", "0", "--device", "cuda", *FAST)
    assert code == 2 and "CUDA is not available" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_cli_strong_with_reference_on_npz(tmp_path, pair, capsys):
    a, b, npz = pair
    idx = tmp_path / "idx.txt"
    idx.write_text("0 3 5 7 9 11 13 15")
    code, text, err = cli(capsys, "--original", a, "--unlearned", b, "--retrained", b, "--data",
                          npz, "--forget-indices", idx, "--strength", "strong", "--markdown",
                          tmp_path / "r.md", *FAST)
    assert code == 0, err
    assert "label-guided (upper bound)" in text and "instancewise" in text
    # unlearned == retrained: no residual knowledge, but 0 of 8 cannot rule out 10 %
    assert "residual share 0.000 [0.000, 0.369] straddles 0.1" in text and "INCONCLUSIVE" in text
