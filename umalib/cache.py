"""Content-addressed artifact cache: ``<root>/<stage>/<key>/``.

The key is a hash of the stage's canonical config, the keys of its upstream artifacts, the
data fingerprint, the umalib version and a code key over the source that builds this artifact
(:mod:`umalib.provenance`), so a changed input or a changed method never reuses a stale artifact,
and an edit rebuilds only what depends on the edited code (the anti-pattern is
``if not exists("model.pt"): train()``).

Each artifact directory holds ``tensors.pt`` (a dict of tensors, loaded with
``weights_only=True``), ``meta.json`` (JSON metadata) and ``MANIFEST.json`` (sha256 of both).
Writes go to a temporary directory that is renamed into place, so a crash never leaves a
half-written artifact under its key; a corrupt or truncated artifact fails its checksum and
is rebuilt. Many processes (and machines on a shared file system) can share one cache: a
per-key file lock makes a second writer of a key wait and read the first one's artifact, and
no valid artifact is ever deleted. ``UMALIB_CACHE`` moves the root (default ``<repo>/artifacts``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from filelock import FileLock

from . import __version__
from .config import canonical_json
from .files import file_digest

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def cache_root() -> Path:
    """The cache directory: ``$UMALIB_CACHE`` or ``<repo>/artifacts``."""
    return Path(os.environ.get("UMALIB_CACHE", REPO_ROOT / "artifacts"))


def make_key(stage: str, config: Any, upstream: Sequence[str] = (), data: str = "",
             code: str = "") -> str:
    """Hash of everything that produced an artifact (20 hex chars).

    Args:
        stage: stage name, e.g. "original".
        config: the stage's config (dataclass, dict or JSON-able value).
        upstream: keys of the artifacts this one was built from.
        data: the data fingerprint.
        code: the digest of the code that computes this artifact, e.g.
            :func:`umalib.provenance.code_key` over the stage's code roots (the caller computes
            it: the cache knows nothing of stages); upstream code enters via ``upstream``.

    The umalib version is part of the key.
    """
    blob = json.dumps({"stage": stage, "config": canonical_json(config), "upstream": list(upstream),
                       "data": data, "version": __version__, "code": code},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def safe_load(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with a clear error for unsafe or broken files.

    Raises:
        ValueError: the file carries a pickled payload that a weights-only load refuses (it
            could run code), or it is truncated / not a torch file.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(f"refusing to load {path}: it holds a pickled object that is not plain "
                         f"tensors/containers (weights_only=True refused it; loading it could "
                         f"run arbitrary code). Save a state_dict instead. Details: "
                         f"{str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): "
                         f"{str(e).splitlines()[0]}") from None


class _Log:
    """Appends cache hits/misses to ``$UMALIB_CACHE_LOG`` (JSON lines) for run summaries."""

    @staticmethod
    def write(event: str, stage: str, key: str) -> None:
        path = os.environ.get("UMALIB_CACHE_LOG")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"event": event, "stage": stage, "key": key,
                                    "time": time.time()}) + "\n")


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """Record the cache events (``"hit"``, ``"miss"``, ``"corrupt"``) of the code inside the
    block, child processes such as notebook kernels included (they inherit
    ``$UMALIB_CACHE_LOG``). Yields a list that holds the events once the block ends."""
    fd, log = tempfile.mkstemp(suffix=".jsonl", prefix="umalib-cache-")
    os.close(fd)
    previous = os.environ.get("UMALIB_CACHE_LOG")
    os.environ["UMALIB_CACHE_LOG"] = log
    events: list[str] = []
    try:
        yield events
    finally:
        if previous is None:
            os.environ.pop("UMALIB_CACHE_LOG", None)
        else:
            os.environ["UMALIB_CACHE_LOG"] = previous
        events += [json.loads(x)["event"] for x in Path(log).read_text().splitlines() if x.strip()]
        os.remove(log)


def artifact_dir(stage: str, key: str) -> Path:
    return cache_root() / stage / key


def _lock(stage: str, key: str) -> FileLock:
    """The per-key lock (``<cache>/.locks/<stage>.<key>.lock``; works across processes and, on
    a shared file system with working locks, across machines)."""
    d = cache_root() / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    return FileLock(str(d / f"{stage}.{key}.lock"))


def save(stage: str, key: str, tensors: Mapping[str, Any], meta: Mapping[str, Any] | None = None
         ) -> Path:
    """Atomically write an artifact (tensors dict + JSON meta) and return its directory.

    The files are written to a temporary folder that is renamed into place, so a reader never
    sees half an artifact. A valid artifact already under the key is kept (another writer got
    there first; ours is discarded); a broken one is moved aside, then replaced. Callers that
    may race hold :func:`_lock` (as :func:`cached` does).
    """
    final = artifact_dir(stage, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
    try:
        torch.save(dict(tensors), tmp / "tensors.pt")
        (tmp / "meta.json").write_text(json.dumps(dict(meta or {}), indent=1, default=repr))
        manifest = {n: file_digest(tmp / n) for n in ("tensors.pt", "meta.json")}
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest))
        if final.exists():
            if _valid(final):
                return final
            broken = final.with_name(f".{key}.broken.{os.getpid()}.{time.time_ns()}")
            os.replace(final, broken)
            shutil.rmtree(broken, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _valid(d: Path) -> bool:
    try:
        manifest = json.loads((d / "MANIFEST.json").read_text())
        return all(file_digest(d / n) == digest for n, digest in manifest.items())
    except (OSError, ValueError):
        return False


def load(stage: str, key: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Load an artifact, or None if it is missing or fails its checksums. Nothing is deleted
    here: a broken artifact is replaced by the next :func:`save` of its key, under the key's
    lock, so a reader can never remove what a writer is producing."""
    d = artifact_dir(stage, key)
    if not d.is_dir():
        return None
    try:
        manifest = json.loads((d / "MANIFEST.json").read_text())
        for name, digest in manifest.items():
            if file_digest(d / name) != digest:
                raise ValueError(f"checksum mismatch for {name}")
        tensors = safe_load(d / "tensors.pt")
        meta = json.loads((d / "meta.json").read_text())
    except (OSError, ValueError, KeyError) as e:
        _Log.write("corrupt", stage, key)
        print(f"[cache] {stage}/{key} is unreadable ({e}); rebuilding")
        return None
    return tensors, meta


def cached(stage: str, key: str, build: Callable[[], tuple[Mapping[str, Any], Mapping[str, Any]]],
           force: bool = False) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Return ``(tensors, meta, hit)``: the cached artifact, or ``build()``'s result, saved.

    ``build`` returns ``(tensors, meta)``. ``force=True`` rebuilds even on a hit. Safe for many
    processes sharing one cache: a miss takes the key's lock and looks again, so a second
    writer of the same key waits for the first and then reads its artifact instead of
    building it twice.
    """
    if not force:
        got = load(stage, key)
        if got is not None:
            _Log.write("hit", stage, key)
            return got[0], got[1], True
    with _lock(stage, key):
        if not force:
            got = load(stage, key)
            if got is not None:  # built by another process while we waited
                _Log.write("hit", stage, key)
                return got[0], got[1], True
        tensors, meta = build()
        if force:  # a forced rebuild replaces the old artifact
            old = artifact_dir(stage, key)
            if old.exists():
                aside = old.with_name(f".{key}.old.{os.getpid()}.{time.time_ns()}")
                os.replace(old, aside)
                shutil.rmtree(aside, ignore_errors=True)
        save(stage, key, tensors, meta)
    _Log.write("miss", stage, key)
    return dict(tensors), dict(meta), False
