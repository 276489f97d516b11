"""Code keys: which source built an artifact, so that only the artifacts a code edit can change
are rebuilt.

A stage names its *code roots*: the umalib modules its builder calls (e.g. the unlearning
method's own module) and the builder function itself. :func:`code_key` hashes

- each root module and every umalib module it imports, transitively (found by reading the
  ``import`` statements; a name imported from a package's ``__init__`` counts as the submodule
  that defines it, so ``from ..metrics import predict`` depends on ``metrics/classification.py``
  and not on the FID code beside it);
- the source of each root function (the stage's builder) and of every stage method and
  ``experiments/`` helper it calls, followed through ``self.<name>`` / ``exp.<name>``
  (:func:`builder_functions`), so an edit to, say, ``Experiment.scenario`` rebuilds every stage
  that draws its forget set.

Sources are hashed as their syntax tree with docstrings removed, so comments, docstrings and
formatting never rebuild anything. Modules whose effect already enters every key as *values*
(``config``: the profile's values are hashed) or that cannot change a result (``cache``,
``files``, this module, ``allocator``, ``reporting/``, ``cli/``) are never hashed.
``SOURCE_DIR`` is where sources are read (tests point it at an edited copy of the package).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import textwrap
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

PACKAGE = "umalib"
SOURCE_DIR = Path(__file__).resolve().parent

# Never hashed: values enter keys as values (config), key/IO machinery, presentation, drivers.
UNHASHED: tuple[str, ...] = ("umalib", "umalib.config", "umalib.cache", "umalib.files",
                             "umalib.provenance", "umalib.allocator", "umalib.reporting",
                             "umalib.cli")


def is_hashed(module: str) -> bool:
    """Whether ``module``'s source enters code keys (see :data:`UNHASHED`)."""
    if not module.startswith(PACKAGE + ".") and module != PACKAGE:
        return False
    return not any(module == u or (u != PACKAGE and module.startswith(u + "."))
                   for u in UNHASHED)


def _path(module: str) -> Path:
    rel = Path(*module.split(".")[1:])
    pkg = SOURCE_DIR / rel / "__init__.py"
    return pkg if pkg.is_file() else SOURCE_DIR / rel.with_suffix(".py")


def _is_package(module: str) -> bool:
    return _path(module).name == "__init__.py"


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _digest_source(text: str) -> str:
    tree = _strip_docstrings(ast.parse(textwrap.dedent(text)))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def _defining_module(package: str, name: str) -> str:
    """The module that defines ``name`` as imported from ``package`` (a submodule, or the
    module an object re-exported by ``package/__init__.py`` comes from)."""
    sub = f"{package}.{name}"
    if _path(sub).is_file():
        return sub
    try:
        obj = getattr(importlib.import_module(package), name)
    except (ImportError, AttributeError):
        return package
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    mod = getattr(obj, "__module__", None)
    return mod if isinstance(mod, str) and mod.startswith(PACKAGE) else package


def _imports(module: str) -> set[str]:
    """umalib modules that ``module`` imports (statically, any nesting level)."""
    tree = ast.parse(_path(module).read_text())
    base = module if _is_package(module) else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                src = ".".join(parts + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            if not src.startswith(PACKAGE):
                continue
            for a in node.names:
                out.add(_defining_module(src, a.name))
    return out


@lru_cache(maxsize=None)
def module_closure(module: str) -> frozenset[str]:
    """``module`` and every hashed umalib module it imports, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen or not is_hashed(m):
            continue
        seen.add(m)
        todo.extend(_imports(m))
    return frozenset(seen)


@lru_cache(maxsize=None)
def _module_digest(module: str) -> str:
    return _digest_source(_path(module).read_text())


def _external_digest(module: str) -> str:
    """Digest of a non-umalib module's source file (read every time: a user edits it)."""
    path = getattr(importlib.import_module(module), "__file__", None)
    if path is None:
        raise ValueError(f"code key: module {module!r} has no source file to hash")
    return _digest_source(Path(path).read_text())


@lru_cache(maxsize=None)
def _function_digest(fn: Any) -> str:
    return _digest_source(inspect.getsource(fn))


def code_closure(roots: Iterable[Any]) -> list[str]:
    """Sorted names of the modules whose source a key over ``roots`` hashes."""
    mods: set[str] = set()
    for r in roots:
        if isinstance(r, str):
            mods |= module_closure(r)
        elif isinstance(r, types.ModuleType):
            mods |= module_closure(r.__name__)
        else:  # a function or class: its own module's imports are not implied
            mod = getattr(r, "__module__", "")
            if is_hashed(mod) and not _is_builder_module(mod):
                mods |= module_closure(mod)
    return sorted(mods)


def _is_builder_module(module: str) -> bool:
    # Stage builders live in experiments/: those modules import every concern, so a builder
    # contributes its own source and the roots its stage names, never its whole module.
    return module.startswith(f"{PACKAGE}.experiments")


def _unwrap(obj: Any) -> Any:
    """The function behind a method, property or cached_property (None for anything else)."""
    if isinstance(obj, property):
        return obj.fget
    if isinstance(obj, functools.cached_property):
        return obj.func
    return obj if inspect.isfunction(obj) else None


def _experiment_class() -> type:
    from .experiments.discriminative import Experiment

    return Experiment


def builder_functions(fn: Any) -> list[Any]:
    """``fn`` (a stage builder in ``experiments/``) and every builder-module function it calls,
    transitively: methods reached as ``self.<name>`` (its own class), ``self.exp.<name>`` or
    ``exp.<name>`` (the :class:`~umalib.experiments.Experiment`), and module-level functions of
    ``experiments/`` named in its source. Library functions it calls are not followed: the
    stage names their modules as roots.
    """
    out: dict[str, Any] = {}
    todo = [fn]
    while todo:
        f = todo.pop()
        if f is None or not _is_builder_module(getattr(f, "__module__", "")):
            continue
        name = f"{f.__module__}.{f.__qualname__}"
        if name in out:
            continue
        out[name] = f
        todo += _named_functions(f)
    return [out[k] for k in sorted(out)]


@lru_cache(maxsize=None)
def _named_functions(f: Any) -> tuple[Any, ...]:
    """The functions ``f``'s source reaches as ``self.<name>``, ``exp.<name>`` or a global name
    (None where a name is no function); read once per process, like a module's digest, so that
    one run keys its stages on one version of the code even if a file is edited meanwhile."""
    owner = f.__globals__.get(f.__qualname__.split(".")[0])
    own = owner if isinstance(owner, type) else None
    found = []
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(f)))):
        if isinstance(node, ast.Attribute):
            cls = {"self": own, "exp": _experiment_class()}.get(_stage_object(node.value))
            if cls is not None:
                found.append(_unwrap(inspect.getattr_static(cls, node.attr, None)))
        elif isinstance(node, ast.Name):
            found.append(_unwrap(f.__globals__.get(node.id)))
    return tuple(found)


def _stage_object(node: ast.AST) -> str:
    """"self" for ``self.x``, "exp" for ``exp.x`` and ``self.exp.x``, "" otherwise."""
    if isinstance(node, ast.Name) and node.id in ("self", "exp"):
        return node.id
    if (isinstance(node, ast.Attribute) and node.attr == "exp"
            and isinstance(node.value, ast.Name) and node.value.id == "self"):
        return "exp"
    return ""


def code_key(roots: Iterable[Any]) -> str:
    """sha256 (16 hex) over the sources that ``roots`` stand for.

    Args:
        roots: module names (``"umalib.unlearn.salun"``), modules, functions or classes. A
            umalib module counts with its transitive umalib imports, another module (a user's
            plugin) by its own source; a function defined in
            ``experiments/`` (a stage builder) counts by its own source and that of the
            builder functions it calls (:func:`builder_functions`); any other function or
            class by its module's closure.
    """
    roots = list(roots)
    h = hashlib.sha256()
    for m in code_closure(roots):
        h.update(f"{m}:{_module_digest(m)}\n".encode())
    # a module outside umalib (a user's method, `plugins`) counts by its own source
    for m in sorted({r for r in roots if isinstance(r, str) and not r.startswith(PACKAGE)}):
        h.update(f"{m}:{_external_digest(m)}\n".encode())
    builders: dict[str, Any] = {}
    for r in roots:
        if not isinstance(r, (str, types.ModuleType)) and _is_builder_module(getattr(r, "__module__", "")):
            builders.update({f"{f.__module__}.{f.__qualname__}": f for f in builder_functions(r)})
    for name in sorted(builders):
        h.update(f"{name}:{_function_digest(builders[name])}\n".encode())
    return h.hexdigest()[:16]


def clear() -> None:
    """Forget cached digests (after ``SOURCE_DIR`` changed or sources were edited)."""
    module_closure.cache_clear()
    _module_digest.cache_clear()
    _function_digest.cache_clear()
    _named_functions.cache_clear()
