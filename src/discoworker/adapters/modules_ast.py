"""Module discovery for job functions: which modules they use and which files to send.

Functions are read from their compiled code (``dis``), where the compiler has already
decided which names are globals, closures or locals; local modules are followed through
their own imports by parsing their source with ``ast``. Nothing is imported.
"""

from __future__ import annotations

import ast
import dis
import functools
import importlib.machinery
import importlib.util
import os
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeAlias

from discoworker.errors import ModUtilImportError

RequiredModule: TypeAlias = str | tuple[str, str]
"""A ``required_modules`` entry: a module name to import, or ``(name, path)`` to send."""

_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTR_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
# Modules a job never needs to be told about: they exist in every interpreter or, for
# __main__, cannot be imported by name (job_path covers the job script).
_NEVER_REPORTED = frozenset({"builtins", "__main__"})


class ModuleFinder(Protocol):
    """The port: find the ``required_modules`` of some job functions (``find_modules``)."""

    def __call__(
        self,
        functions: Iterable[Callable[..., Any]],
        send_modules: bool = True,
        job_path: str | None = None,
        recurse: bool = True,
        exclude: Iterable[str] = (),
    ) -> list[RequiredModule]: ...


# --- what a function uses -------------------------------------------------------------


def parse_function(function: Callable[..., Any]) -> list[str]:
    """The names of the modules ``function`` uses, sorted.

    Found: ``mod.attr`` chains (submodules included), aliases, ``from x import y`` of
    functions and classes, imports in the body, nested code, defaults and closures.
    """
    return sorted({module for _written, module in _uses(function)})


def _uses(function: object) -> Iterator[tuple[str, str]]:
    """``(name as written, module name)`` for each module use; the written name serves exclude."""
    if isinstance(function, functools.partial):
        yield from _uses(function.func)
        for arg in (*function.args, *function.keywords.values()):
            yield from _objects_module("", arg, None)
    elif isinstance(function, types.MethodType):
        yield from _uses(function.__func__)
    elif isinstance(function, types.FunctionType):
        yield from _function_uses(function)
    elif isinstance(function, type):
        # A class given as a job callable: what its own methods use.
        for member in vars(function).values():
            inner = getattr(member, "__func__", member)
            if isinstance(inner, types.FunctionType):
                yield from _function_uses(inner)
    else:
        # A callable object: what its class's __call__ uses.
        call = vars(type(function)).get("__call__")
        if isinstance(call, types.FunctionType):
            yield from _function_uses(call)


def _function_uses(function: types.FunctionType) -> Iterator[tuple[str, str]]:
    own = function.__module__
    namespace = function.__globals__
    cells: dict[str, object] = {}
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=False):
        try:
            cells[name] = cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            continue
    defaults = (*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values())
    for value in defaults:
        yield from _objects_module("", value, own)
    yield from _code_uses(function.__code__, namespace, cells, own)


def _code_uses(
    code: types.CodeType, namespace: Mapping[str, object], cells: Mapping[str, object], own: str
) -> Iterator[tuple[str, str]]:
    instructions = list(dis.get_instructions(code))
    for index, instruction in enumerate(instructions):
        op = instruction.opname
        if op in _GLOBAL_LOADS or (op == "LOAD_DEREF" and instruction.argval in cells):
            chain = [str(instruction.argval)]
            for following in instructions[index + 1 :]:
                if following.opname not in _ATTR_LOADS:
                    break
                chain.append(str(following.argval))
            yield from _chain_module(chain, namespace, cells, op == "LOAD_DEREF", own)
        elif op == "IMPORT_NAME":
            yield from _import_uses(instructions, index, namespace)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            # Generator expressions, comprehensions, lambdas and inner functions share the
            # globals; closure variables pass down only while nothing rebinds them.
            inner = {
                name: cells[name]
                for name in const.co_freevars
                if name in cells and name not in code.co_cellvars
            }
            yield from _code_uses(const, namespace, inner, own)


def _chain_module(
    chain: list[str],
    namespace: Mapping[str, object],
    cells: Mapping[str, object],
    is_cell: bool,
    own: str,
) -> Iterator[tuple[str, str]]:
    head = chain[0]
    if is_cell:
        yield from _objects_module(head, cells[head], own, chain[1:])
    elif head in namespace:
        yield from _objects_module(head, namespace[head], own, chain[1:])
    elif len(chain) > 1 and not _is_builtin_name(head, namespace):
        # Unbound, yet used as ``name.attr``: the original's guess that it is a module,
        # kept so that a typo or a missing import is reported instead of passing silently.
        yield head, head


def _is_builtin_name(name: str, namespace: Mapping[str, object]) -> bool:
    builtins_ = namespace.get("__builtins__", __builtins__)
    if isinstance(builtins_, types.ModuleType):
        builtins_ = vars(builtins_)
    return isinstance(builtins_, Mapping) and name in builtins_


def _objects_module(
    written: str, value: object, own: str | None, attrs: list[str] | None = None
) -> Iterator[tuple[str, str]]:
    """The module ``value`` stands for or comes from, if one must be importable on a node."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
        # Follow ``pkg.sub.attr`` while each step is a true submodule: ``samplepkg.sub``
        # is needed, but ``os.path`` is posixpath reached through os, so ``os`` suffices.
        current: types.ModuleType = value
        for attr in attrs or ():
            step = vars(current).get(attr)  # vars(): never run a module __getattr__
            if not (isinstance(step, types.ModuleType) and step.__name__ == f"{name}.{attr}"):
                break
            current, name = step, step.__name__
        if name not in _NEVER_REPORTED:
            yield written, name
        return
    if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
        module = getattr(value, "__module__", None)  # ``from x import y`` -> x
    else:
        # A global object must be rebuilt on the node: its class's module is needed.
        module = getattr(type(value), "__module__", None)
    if (
        isinstance(module, str)
        and module != own
        and module not in _NEVER_REPORTED
        and module in sys.modules
    ):
        yield written, module


def _import_uses(
    instructions: list[dis.Instruction], index: int, namespace: Mapping[str, object]
) -> Iterator[tuple[str, str]]:
    """An ``import`` statement in a function body: the modules it loads, if they exist."""
    name = str(instructions[index].argval)
    level = instructions[index - 2].argval if index >= 2 else 0
    fromlist = instructions[index - 1].argval if index >= 1 else None
    if isinstance(level, int) and level > 0:
        package = namespace.get("__package__")
        if not isinstance(package, str) or not package:
            return
        try:
            name = importlib.util.resolve_name("." * level + name, package)
        except ImportError:
            return
    candidates = [(name, name)]
    if isinstance(fromlist, tuple):
        candidates += [(item, f"{name}.{item}") for item in fromlist if item != "*"]
    for written, candidate in candidates:
        # Imports in a body are often optional (try/except ImportError), and a
        # ``from x import y`` names attributes as often as submodules: keep only
        # what exists rather than fail the job.
        if _exists(candidate):
            yield written, candidate


# --- where modules live ---------------------------------------------------------------


def locate_modules(
    modules: Iterable[str],
    recurse: bool = True,
    include_sys: bool = False,
    *,
    shipped: Iterable[str] = (),
) -> list[tuple[str, str | None]]:
    """``(name, path)`` for each local module (and ``(name, None)`` for system ones if
    ``include_sys``), sorted; with ``recurse``, the local modules those import too.

    ``shipped``: packages every job home has already (discoworker's own): never followed,
    wherever they are installed (a checkout on ``PYTHONPATH`` would otherwise count as the
    user's code, every module of it read).
    """
    skipped = frozenset(shipped)
    modules = [m for m in modules if not _is_excluded(m, skipped)]
    roots = _Roots.current()
    found: dict[str, str | None] = {}
    pending: list[tuple[str, str]] = []
    for module in modules:
        local = [(name, path) for name, path in _locate(module, roots) if path is not None]
        if not local:
            if include_sys:
                found.setdefault(module, None)
            continue
        for name, path in local:
            if found.get(name) is None:
                found[name] = path
                pending.append((name, path))
    if recurse:
        _follow_imports(pending, found, roots, skipped)
    return sorted(found.items())


def _locate(module: str, roots: _Roots) -> list[tuple[str, str | None]]:
    """``module`` and its parent packages, each with its file if local; ImportError if absent."""
    return [(name, roots.local_file(spec)) for name, spec in _specs(module)]


def _specs(module: str) -> list[tuple[str, importlib.machinery.ModuleSpec]]:
    """The specs of ``module``'s parent packages and of itself; ImportError if one is absent."""
    specs: list[tuple[str, importlib.machinery.ModuleSpec]] = []
    search: list[str] | None = None
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        spec = _find_spec(name, search)
        if spec is None:
            raise ImportError(f"No module named {name!r}", name=name)
        specs.append((name, spec))
        locations = spec.submodule_search_locations
        search = list(locations) if locations is not None else []
    return specs


def _find_spec(name: str, search: list[str] | None) -> importlib.machinery.ModuleSpec | None:
    """The spec the import system would use for ``name``, without importing anything."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        spec = getattr(loaded, "__spec__", None)
        if isinstance(spec, importlib.machinery.ModuleSpec):
            return spec
        file = getattr(loaded, "__file__", None)
        return importlib.machinery.ModuleSpec(name, None, origin=file if file else None)
    if search is not None and not search:
        return None  # the parent is a plain module, not a package
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec = find(name, search, None)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def _exists(module: str) -> bool:
    try:
        _specs(module)
    except (ImportError, ValueError):
        return False
    return True


def _follow_imports(
    pending: list[tuple[str, str]],
    found: dict[str, str | None],
    roots: _Roots,
    shipped: frozenset[str] = frozenset(),
) -> None:
    """Add the local modules imported, directly or not, by the ``pending`` local modules
    (never those of the ``shipped`` packages)."""
    while pending:
        name, path = pending.pop()
        for imported in _imports_of(name, path):
            if _is_excluded(imported, shipped):
                continue
            try:
                chain = _locate(imported, roots)
            except (ImportError, ValueError):
                continue  # optional imports and imported attributes: not modules to send
            for sub, sub_path in chain:
                if sub_path is not None and found.get(sub) is None:
                    found[sub] = sub_path
                    pending.append((sub, sub_path))


def _imports_of(name: str, path: str) -> list[str]:
    """Every module a source file imports, anywhere in it, as absolute names."""
    if not path.endswith(".py"):
        return []
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return []
    package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue
            if base:
                imported.append(base)
                # ``from pkg import sub`` may name a submodule; _locate decides.
                imported += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return imported


@functools.cache
def _interpreter_paths() -> tuple[str, ...]:
    """The interpreter's own library directories (fixed for its life; costly to expand)."""
    paths = sysconfig.get_paths()
    found = [p for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := paths.get(key))]
    return (*found, os.path.dirname(os.__file__))


class _Roots:
    """Which directories hold installed code (stdlib, site-packages, .pth entries) and
    which are the user's own (``PYTHONPATH``); a module file is local unless the deepest
    of them containing it is an installed one."""

    def __init__(self, installed: set[str], user: set[str]) -> None:
        self.installed = installed
        self.user = user

    @classmethod
    def current(cls) -> _Roots:
        """The roots of this interpreter, read afresh (sys.path and PYTHONPATH may change)."""
        sites: list[str] = []
        if hasattr(site, "getsitepackages"):
            sites += site.getsitepackages()
        if site.ENABLE_USER_SITE:
            sites.append(site.getusersitepackages())
        installed = set(_interpreter_paths())
        installed.update(sites)
        for directory in sites:
            installed.update(_pth_entries(directory))
        user = {
            os.path.realpath(entry)
            for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
            if entry
        }
        return cls({os.path.realpath(path) for path in installed}, user)

    def local_file(self, spec: importlib.machinery.ModuleSpec) -> str | None:
        """The real path of the module's file if it is local, else None."""
        origin = spec.origin
        if not spec.has_location or not origin or not os.path.isfile(origin):
            return None  # builtin, frozen, namespace package, or inside a zip
        path = os.path.realpath(origin)
        holders = [(len(d), False) for d in self.installed if _contains(d, path)]
        holders += [(len(d), True) for d in self.user if _contains(d, path)]
        # Outside every known directory (cwd, a sys.path entry of the user's) is local too.
        return path if not holders or max(holders)[1] else None


def _contains(directory: str, path: str) -> bool:
    return path.startswith(directory.rstrip(os.sep) + os.sep)


def _pth_entries(directory: str) -> Iterator[str]:
    """Directories a site directory's ``.pth`` files add to sys.path (editable installs)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return
    for name in names:
        if not name.endswith(".pth"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as pth:
                lines = pth.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                yield os.path.join(directory, line)


# --- the job's modules ----------------------------------------------------------------


def find_modules(
    functions: Iterable[Callable[..., Any]],
    send_modules: bool = True,
    job_path: str | None = None,
    recurse: bool = True,
    exclude: Iterable[str] = (),
    *,
    shipped: Iterable[str] = (),
) -> list[RequiredModule]:
    """The ``required_modules`` of ``functions`` (and of the script at ``job_path``), sorted:
    names for system modules, ``(name, path)`` for local ones when ``send_modules``.

    ``exclude``: names the worker gives job code, not modules; ``shipped``: packages every
    job home has (see :func:`locate_modules`), left out with everything under them.
    """
    excluded = frozenset(exclude) | frozenset(shipped)
    skipped = frozenset(shipped)
    required: set[RequiredModule] = set()
    for function in functions:
        used = {
            module
            for written, module in _uses(function)
            if not (written in excluded or _is_excluded(module, excluded))
        }
        if not send_modules:
            required.update(used)
            continue
        try:
            located = locate_modules(sorted(used), recurse, include_sys=True, shipped=skipped)
        except ImportError as error:
            raise ModUtilImportError(str(error), function) from error
        required.update(name if path is None else (name, path) for name, path in located)
    if job_path:
        # As the original: the job script is sent whenever it is local, and followed
        # when recursing, even with send_modules=False.
        path = os.path.realpath(job_path)
        name = os.path.basename(job_path).split(".")[0]
        roots = _Roots.current()
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is not None and roots.local_file(spec) is not None:
            found: dict[str, str | None] = {name: path}
            if recurse:
                _follow_imports([(name, path)], found, roots, skipped)
            required.update((module, file) for module, file in found.items() if file)
    return sorted(required, key=_order)


def _is_excluded(module: str, excluded: frozenset[str]) -> bool:
    # Excluding a package excludes its submodules.
    return any(module == name or module.startswith(name + ".") for name in excluded)


def _order(module: RequiredModule) -> tuple[int, str, str]:
    # Names first, then (name, path) pairs, as the golden lists are sorted.
    if isinstance(module, str):
        return 0, module, ""
    return 1, module[0], module[1]
