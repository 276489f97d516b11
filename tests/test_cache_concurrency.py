"""Many processes sharing one cache: per-key locks, no double builds, no half-read artifacts."""

import json
import multiprocessing as mp
import os
import time

import torch

from umalib import cache


def _writer(root: str, keys: list[str], log: str, delay: float) -> None:
    os.environ["UMALIB_CACHE"] = root

    def build(key: str):
        def b():
            with open(log, "a") as f:  # one line per real build
                f.write(json.dumps({"key": key, "pid": os.getpid()}) + "\n")
            time.sleep(delay)  # a slow build: the other process arrives meanwhile
            return {"w": torch.full((1000,), float(len(key)))}, {"key": key}
        return b

    for k in keys:
        t, m, _ = cache.cached("stage", k, build(k))
        assert m["key"] == k and float(t["w"][0]) == len(k)


def test_two_processes_with_overlapping_keys_build_each_once(tmp_path):
    root, log = str(tmp_path / "cache"), str(tmp_path / "builds.jsonl")
    ctx = mp.get_context("spawn")
    a = ctx.Process(target=_writer, args=(root, ["k1", "k22", "k333"], log, 0.5))
    b = ctx.Process(target=_writer, args=(root, ["k333", "k22", "k4444"], log, 0.5))
    a.start(); b.start(); a.join(120); b.join(120)
    assert a.exitcode == 0 and b.exitcode == 0
    built = [json.loads(line)["key"] for line in open(log)]
    assert sorted(built) == ["k1", "k22", "k333", "k4444"]  # every key built exactly once
    arts = sorted(p.name for p in (tmp_path / "cache" / "stage").iterdir())
    assert arts == ["k1", "k22", "k333", "k4444"]  # one artifact per key, no temp folders left


def _reader(root: str, n: int, out: str, ready) -> None:
    os.environ["UMALIB_CACHE"] = root
    seen = bad = loads = partial = 0
    ready.set()  # the writer starts only now: the polls below overlap the writes
    deadline = time.time() + 60
    while seen < n and time.time() < deadline:
        for i in range(n):
            got = cache.load("stage", f"r{i}")
            if got is not None:
                t, m = got
                loads += 1
                bad += int(not (m["i"] == i and t["w"].numel() == 200_000 and float(t["w"][-1]) == i))
        seen = sum((cache.artifact_dir("stage", f"r{i}")).is_dir() for i in range(n))
        partial += int(0 < seen < n)  # a poll that ran while the writer was mid-way
    with open(out, "w") as f:
        json.dump({"bad": bad, "loads": loads, "partial": partial}, f)


def test_a_reader_never_sees_a_half_written_artifact(tmp_path, monkeypatch):
    root, out, n = str(tmp_path / "cache"), str(tmp_path / "reader.json"), 12
    monkeypatch.setenv("UMALIB_CACHE", root)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    r = ctx.Process(target=_reader, args=(root, n, out, ready))
    r.start()
    assert ready.wait(120), "the reader never started"
    for i in range(n):  # large-ish tensors, written while the reader polls
        cache.cached("stage", f"r{i}", lambda i=i: ({"w": torch.full((200_000,), float(i))}, {"i": i}))
        time.sleep(0.02)  # let the reader poll between artifacts
    r.join(120)
    got = json.load(open(out))
    assert r.exitcode == 0 and got["bad"] == 0
    # the reading provably overlapped the writing: it polled while only some artifacts existed
    # and loaded some of them then
    assert got["partial"] > 0 and got["loads"] > 0, got
    # a corrupt artifact is reported, left in place for the writer, and replaced by it
    f = tmp_path / "cache" / "stage" / "r0" / "tensors.pt"
    f.write_bytes(f.read_bytes()[:64])
    assert cache.load("stage", "r0") is None and f.exists()
    _, m, hit = cache.cached("stage", "r0", lambda: ({"w": torch.zeros(3)}, {"i": 0}))
    assert not hit and cache.load("stage", "r0") is not None
