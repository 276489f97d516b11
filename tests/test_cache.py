import os
import pickle

import pytest
import torch

from umalib import cache


class Payload:  # a pickled object a weights-only load must refuse
    def __reduce__(self):
        return (os.getcwd, ())


def test_key_depends_on_everything():
    base = cache.make_key("s", {"a": 1}, ["u"], "d")
    assert base == cache.make_key("s", {"a": 1}, ["u"], "d")
    assert len({base, cache.make_key("s", {"a": 2}, ["u"], "d"), cache.make_key("s", {"a": 1}, ["v"], "d"),
                cache.make_key("s", {"a": 1}, ["u"], "e"), cache.make_key("t", {"a": 1}, ["u"], "d")}) == 5


def test_key_depends_on_version(monkeypatch):
    k = cache.make_key("s", {}, [], "")
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    assert cache.make_key("s", {}, [], "") != k


def test_roundtrip_and_cached_hit(tmp_path, monkeypatch):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"w": torch.arange(5.0)}, {"seconds": 1.5}

    t, m, hit = cache.cached("stage", "k1", build)
    assert not hit and m["seconds"] == 1.5
    t2, m2, hit2 = cache.cached("stage", "k1", build)
    assert hit2 and torch.equal(t2["w"], torch.arange(5.0)) and len(calls) == 1
    assert not [p for p in (tmp_path / "stage").iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_truncated_artifact_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path))
    build = lambda: ({"w": torch.randn(1000)}, {})
    cache.cached("stage", "k", build)
    f = tmp_path / "stage" / "k" / "tensors.pt"
    f.write_bytes(f.read_bytes()[:100])
    assert cache.load("stage", "k") is None  # detected (left for the next writer to replace)
    _, _, hit = cache.cached("stage", "k", build)
    assert not hit and cache.load("stage", "k") is not None


def test_missing_manifest_is_partial(tmp_path, monkeypatch):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path))
    cache.save("s", "k", {"w": torch.ones(2)}, {})
    (tmp_path / "s" / "k" / "MANIFEST.json").unlink()
    assert cache.load("s", "k") is None


def test_pickled_payload_refused(tmp_path):
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"w": Payload()}, f)
    with pytest.raises(ValueError, match="refusing"):
        cache.safe_load(p)
    p2 = tmp_path / "evil2.pt"
    torch.save({"obj": Payload()}, p2)
    with pytest.raises(ValueError, match="refusing"):
        cache.safe_load(p2)


def test_truncated_checkpoint_clear_error(tmp_path):
    p = tmp_path / "m.pt"
    torch.save({"w": torch.randn(100)}, p)
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        cache.safe_load(p)
    with pytest.raises(FileNotFoundError):
        cache.safe_load(tmp_path / "nope.pt")


def test_cache_log(tmp_path, monkeypatch):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path / "c"))
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("UMALIB_CACHE_LOG", str(log))
    cache.cached("s", "k", lambda: ({}, {}))
    cache.cached("s", "k", lambda: ({}, {}))
    assert [l.split('"event": "')[1][:3] for l in log.read_text().splitlines()] == ["mis", "hit"]


def test_recording_counts_events_and_restores_the_log_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("UMALIB_CACHE", str(tmp_path))
    monkeypatch.delenv("UMALIB_CACHE_LOG", raising=False)
    build = lambda: ({"w": torch.ones(2)}, {})
    with cache.recording() as events:
        cache.cached("s", "a", build)
        cache.cached("s", "a", build)
        cache.cached("s", "b", build)
    assert events == ["miss", "hit", "miss"]
    assert "UMALIB_CACHE_LOG" not in __import__("os").environ
