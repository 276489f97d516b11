"""``python -m umalib verify``: refusals before compute, and a small end-to-end run."""

import json
import os
import pickle

import pytest
import torch

from umalib.cli import main
from umalib.models import build_model

from conftest import requires_fmnist


def _model(width=4):
    torch.manual_seed(0)
    return build_model("cnn", in_channels=1, num_classes=10, image_size=28, mean=[0.286], std=[0.353],
                       width=width)


@pytest.fixture()
def ckpts(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(_model().state_dict(), a)
    m = _model()
    with torch.no_grad():
        m.fc.weight.mul_(0.5)
    torch.save({"state_dict": m.state_dict()}, b)
    return a, b


def run(capsys, *args):
    code = main(["verify", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


BASE = ["--forget-classes", "0", "--steps", "2", "--max-samples", "16",
        "--mia-shadow", "60", "--no-progress"]


class Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_refuses_pickled_payload(tmp_path, ckpts, capsys):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"fc.weight": Evil()}))
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", evil, *BASE)
    assert code == 2 and "refusing" in err


def test_refuses_wrong_architecture(tmp_path, ckpts, capsys):
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1], "--arch",
                       "resnet18", *BASE)
    assert code == 2 and "holds a umalib cnn, not resnet18" in err
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1], "--arch",
                       "torchvision:resnet18", *BASE)
    assert code == 2 and "does not fit torchvision resnet18" in err


def test_refuses_nan_weights(tmp_path, ckpts, capsys):
    sd = _model().state_dict()
    sd["fc.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(sd, bad)
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", bad, *BASE)
    assert code == 2 and "NaN" in err


@pytest.mark.parametrize("eps", ["2", "0", "-1/255", "abc", "nan", "1/0", "300/255"])
def test_refuses_bad_eps(ckpts, capsys, eps):
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1], *BASE, f"--eps={eps}")
    assert code == 2 and "eps" in err.lower()


def test_refuses_missing_file_and_both_forget_specs(tmp_path, ckpts, capsys):
    code, _, err = run(capsys, "--original", tmp_path / "none.pt", "--unlearned", ckpts[1], *BASE)
    assert code == 2 and "no file" in err
    with pytest.raises(SystemExit):  # argparse: mutually exclusive
        main(["verify", "--original", str(ckpts[0]), "--unlearned", str(ckpts[1]),
              "--forget-classes", "0", "--forget-indices", "x.txt"])


@requires_fmnist
def test_refuses_unknown_classes(ckpts, capsys):
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1],
                       "--forget-classes", "10", "--no-progress")
    assert code == 2 and "[10] have no samples" in err


@requires_fmnist
@pytest.mark.parametrize("eps,expected", [("8/255", 8 / 255), ("0.03", 0.03)])
def test_end_to_end_report_and_json(tmp_path, ckpts, capsys, eps, expected):
    out = tmp_path / "r" / "report.json"
    code, text, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1], *BASE, "--eps", eps,
                          "--json", out)
    assert code == 0, err
    rep = json.loads(out.read_text())
    assert rep["eps"] == expected and rep["samples"] == 16 and rep["forget_size"] == 6000
    std = rep["attacks"][0]
    assert 0 <= std["mapped_back"]["value"] <= 1 and "verdict" in rep and "UMA verification" in text
    # the relearning probe's line (retain data given, the default 100 steps)
    assert rep["relearn"]["steps"] == 100 and set(rep["relearn"]["unlearned"]) == {"0", "100"}
    assert "relearning probe (retain images only, 100 SGD steps" in text
    # the attack can only move the unlearned model towards the original's predictions here
    assert std["mapped_back"]["k"] >= rep["clean"]["mapped_back"]["k"]


@requires_fmnist
def test_forget_indices_file(tmp_path, ckpts, capsys):
    f = tmp_path / "idx.txt"
    f.write_text("1, 5, 9 100\n2000")
    code, text, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1],
                          "--forget-indices", f, "--steps", "2", "--mia-shadow", "60", "--no-progress")
    assert code == 0, err
    assert "instancewise" in text and "UNDECIDED" in text  # no retrained reference
    f.write_text("1 70000")
    code, _, err = run(capsys, "--original", ckpts[0], "--unlearned", ckpts[1],
                       "--forget-indices", f, "--no-progress")
    assert code == 2 and "indices must be in" in err


def test_bench_stage_seconds_reads_the_cache(tmp_path, capsys):
    import json

    from umalib.cli.bench import stage_seconds

    for stage, secs in (("uma", [1.5, 2.0]), ("mae_uma", [10.0]), ("eval", [])):
        for i, s in enumerate(secs):
            d = tmp_path / stage / f"k{i}"
            d.mkdir(parents=True)
            (d / "meta.json").write_text(json.dumps({"seconds": s}))
    (tmp_path / ".locks").mkdir()
    assert stage_seconds(tmp_path) == [("mae_uma", 1, 10.0), ("uma", 2, 3.5)]
    assert main(["bench", "--stages", "--cache", str(tmp_path / "none")]) == 1
    assert "no artifacts" in capsys.readouterr().out
