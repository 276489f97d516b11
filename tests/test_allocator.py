"""The allocator setting of the build's workers: applied where glibc is, and no number changes."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from umalib import allocator
from umalib.experiments import jobs

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_keep_freed_memory_applies_where_glibc_is():
    # in a fresh process, so that this test session's allocator stays as it started
    out = subprocess.run([sys.executable, "-c", "from umalib import allocator; "
                          "print(allocator.keep_freed_memory())"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(GLIBC)


def test_env_names_the_same_settings():
    assert allocator.ENV == {"MALLOC_MMAP_THRESHOLD_": str(allocator.SETTINGS["mmap_threshold"]),
                             "MALLOC_TRIM_THRESHOLD_": str(allocator.SETTINGS["trim_threshold"]),
                             "MALLOC_TOP_PAD_": str(allocator.SETTINGS["top_pad"])}


@pytest.mark.skipif(not GLIBC, reason="the setting applies to glibc only")
def test_outputs_and_gradients_are_the_same_with_the_setting(tmp_path):
    script = """
import sys, torch
from umalib import allocator
from umalib.models.classifiers import build_model
if sys.argv[1] == "on":
    assert allocator.keep_freed_memory()
torch.manual_seed(0)
model = build_model("cnn", in_channels=1, num_classes=10, image_size=28, mean=[0.3], std=[0.3])
x = torch.rand(600, 1, 28, 28, requires_grad=True)
for _ in range(3):  # repeated batches: the case the setting is for
    out = model(x)
grad, = torch.autograd.grad(out.logsumexp(1).sum(), x)
torch.save({"out": out.detach(), "grad": grad}, sys.argv[2])
"""
    # without the MALLOC_* variables that `reproduce` sets for its kernels, so "off" is off
    env = {k: v for k, v in os.environ.items() if k not in allocator.ENV}
    for mode in ("off", "on"):
        subprocess.run([sys.executable, "-c", script, mode, str(tmp_path / mode)], check=True,
                       env=env)
    off, on = (torch.load(tmp_path / m, weights_only=True) for m in ("off", "on"))
    assert torch.equal(off["out"], on["out"]) and torch.equal(off["grad"], on["grad"])


def test_build_workers_apply_it(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append("set") or True)
    monkeypatch.setattr(jobs, "run_job", lambda *a, **k: calls.append("job") or {"job": "x"})
    assert jobs.run_job_reporting("smoke", 0, "original", None, "cpu") == {"job": "x"}
    assert calls == ["set", "job"]
