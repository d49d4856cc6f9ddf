"""modutil against the original's recorded results on golden/modsample, and where it was wrong."""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from discoworker import modutil
from discoworker.errors import ModUtilImportError
from tests.conftest import GOLDEN

RECORDED: dict[str, Any] = json.loads(
    (GOLDEN / "modutil" / "py311_patched_scanner.json").read_text()
)


def _pair(name: str, path: str) -> list[str]:
    return [name, path]


_ALIAS = _pair("aliasmod", "aliasmod.py")
_DOT = _pair("dotmod", "dotmod.py")
_JOB = _pair("jobmod", "jobmod.py")
_MOD1 = _pair("mod1", "mod1.py")
_MOD2 = _pair("mod2", "mod2.py")
_PLAIN = _pair("plainmod", "plainmod.py")
_PKG = _pair("samplepkg", "samplepkg/__init__.py")
_SUB = _pair("samplepkg.sub", "samplepkg/sub.py")
_FIVE = "[map_math,map_local,map_dot,map_pkg,map_plain]"
_FIVE_NAMES = ["dotmod", "math", "mod1", "os", "plainmod", "samplepkg.sub"]

# Where the original was wrong, what we give instead (in the recording's form: sorted,
# pairs as lists, paths relative to modsample). Everything else must equal the recording.
OURS: dict[str, Any] = {
    # `import aliasmod as am`: the original reports the alias `am`, which no finder can
    # locate, so sending fails with ModUtilImportError. We report the module behind it.
    "parse_function map_alias": ["aliasmod"],
    "find_modules([map_alias], send_modules=False, recurse=False)": ["aliasmod"],
    "find_modules([map_alias], send_modules=False, recurse=True)": ["aliasmod"],
    "find_modules([map_alias], send_modules=True, recurse=False)": [_ALIAS],
    "find_modules([map_alias], send_modules=True, recurse=True)": [_ALIAS],
    # `CONST.upper()`: the original takes any `global.attr` for a module and then fails
    # to locate the string constant `CONST`. We look at what the global is bound to.
    "parse_function map_globalobj": [],
    "find_modules([map_globalobj], send_modules=False, recurse=False)": [],
    "find_modules([map_globalobj], send_modules=False, recurse=True)": [],
    "find_modules([map_globalobj], send_modules=True, recurse=False)": [],
    "find_modules([map_globalobj], send_modules=True, recurse=True)": [],
    # `math.floor` inside a generator expression lives in a nested code object the
    # original never reads.
    "parse_function map_genexpr": ["math"],
    "find_modules([map_genexpr], send_modules=False, recurse=False)": ["math"],
    "find_modules([map_genexpr], send_modules=False, recurse=True)": ["math"],
    "find_modules([map_genexpr], send_modules=True, recurse=False)": ["math"],
    "find_modules([map_genexpr], send_modules=True, recurse=True)": ["math"],
    # `from plainmod import g` in the body: the original ignores imports in functions.
    "parse_function map_plain": ["plainmod"],
    "find_modules([map_plain], send_modules=False, recurse=False)": ["plainmod"],
    "find_modules([map_plain], send_modules=False, recurse=True)": ["plainmod"],
    "find_modules([map_plain], send_modules=True, recurse=False)": [_PLAIN],
    "find_modules([map_plain], send_modules=True, recurse=True)": [_PLAIN],
    # `samplepkg.sub.fn`: the original stops at `samplepkg` and, the package being a
    # directory, takes it for a system module that is never sent. We name the submodule
    # and send the package's __init__.py with it.
    "parse_function map_pkg": ["samplepkg.sub"],
    "find_modules([map_pkg], send_modules=False, recurse=False)": ["samplepkg.sub"],
    "find_modules([map_pkg], send_modules=False, recurse=True)": ["samplepkg.sub"],
    "find_modules([map_pkg], send_modules=True, recurse=False)": [_PKG, _SUB],
    "find_modules([map_pkg], send_modules=True, recurse=True)": [_PKG, _SUB],
    **{
        f"locate_modules(['samplepkg'], recurse={r}, include_sys={s})": [_PKG]
        for r in (False, True)
        for s in (False, True)
    },
    "locate_modules(['mod1', 'math', 'os', 'plainmod', 'samplepkg'], recurse=False, "
    "include_sys=False)": [_MOD1, _PLAIN, _PKG],
    "locate_modules(['mod1', 'math', 'os', 'plainmod', 'samplepkg'], recurse=False, "
    "include_sys=True)": [["math", None], _MOD1, ["os", None], _PLAIN, _PKG],
    "locate_modules(['mod1', 'math', 'os', 'plainmod', 'samplepkg'], recurse=True, "
    "include_sys=False)": [_MOD1, _MOD2, _PLAIN, _PKG],
    "locate_modules(['mod1', 'math', 'os', 'plainmod', 'samplepkg'], recurse=True, "
    "include_sys=True)": [["math", None], _MOD1, _MOD2, ["os", None], _PLAIN, _PKG],
    # The five together: the package and plainmod fixes above, combined. With a job_path
    # the job script's own imports were already followed by the original, so the names
    # change but the pairs do not.
    f"find_modules({_FIVE}, send_modules=False, recurse=False)": _FIVE_NAMES,
    f"find_modules({_FIVE}, send_modules=False, recurse=True)": _FIVE_NAMES,
    f"find_modules({_FIVE}, send_modules=False, recurse=False, job_path=SAMPLE/jobmod.py)": [
        *_FIVE_NAMES,
        _JOB,
    ],
    f"find_modules({_FIVE}, send_modules=False, recurse=True, job_path=SAMPLE/jobmod.py)": [
        *_FIVE_NAMES,
        *(_ALIAS, _DOT, _JOB, _MOD1, _MOD2, _PLAIN, _PKG, _SUB),
    ],
    f"find_modules({_FIVE}, send_modules=True, recurse=False)": [
        *("math", "os"),
        *(_DOT, _MOD1, _PLAIN, _PKG, _SUB),
    ],
    f"find_modules({_FIVE}, send_modules=True, recurse=False, job_path=SAMPLE/jobmod.py)": [
        *("math", "os"),
        *(_DOT, _JOB, _MOD1, _PLAIN, _PKG, _SUB),
    ],
    f"find_modules({_FIVE}, send_modules=True, recurse=True)": [
        *("math", "os"),
        *(_DOT, _MOD1, _MOD2, _PLAIN, _PKG, _SUB),
    ],
    f"find_modules({_FIVE}, send_modules=True, recurse=True, job_path=SAMPLE/jobmod.py)": [
        *("math", "os"),
        *(_ALIAS, _DOT, _JOB, _MOD1, _MOD2, _PLAIN, _PKG, _SUB),
    ],
}

CALLS = [
    *(f"parse_function {name}" for name in RECORDED["parse_function"]),
    *RECORDED["find_modules"],
    *RECORDED["locate_modules"],
]


def _recorded(key: str) -> Any:
    if key.startswith("parse_function "):
        return {"value": RECORDED["parse_function"][key.split()[1]]}
    return RECORDED[key.partition("(")[0]][key]


def _unsandboxed(path: Path) -> None:
    """Forget every module imported from ``path`` and the path itself."""
    where = str(path)
    while where in sys.path:
        sys.path.remove(where)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(where + os.sep):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of golden/modsample on sys.path (a copy: importing writes __pycache__)."""
    root = Path(os.path.realpath(tmp_path_factory.mktemp("modsample")))
    shutil.copytree(GOLDEN / "modsample", root, dirs_exist_ok=True)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield root
    finally:
        _unsandboxed(root)


def _as_recorded(value: Any, root: Path) -> Any:
    """Our result in the recording's form: pairs as lists, paths relative to modsample."""
    if isinstance(value, str):
        return value
    name, path = value
    return [name, None if path is None else os.path.relpath(path, root)]


def _run(key: str, root: Path) -> Any:
    jobmod = importlib.import_module("jobmod")
    if key.startswith("parse_function "):
        return modutil.parse_function(getattr(jobmod, key.split()[1]))
    # The recorded keys are the calls themselves, written as Python.
    call = key.replace("job_path=SAMPLE/jobmod.py", f"job_path={str(root / 'jobmod.py')!r}")
    namespace: dict[str, Any] = {
        "find_modules": modutil.find_modules,
        "locate_modules": modutil.locate_modules,
        **{name: getattr(jobmod, name) for name in dir(jobmod) if name.startswith("map_")},
    }
    return [_as_recorded(item, root) for item in eval(call, {"__builtins__": {}}, namespace)]


@pytest.mark.parametrize("key", CALLS, ids=CALLS)
def test_recorded_call(key: str, sample: Path) -> None:
    recorded = _recorded(key)
    if key in OURS:
        # We differ on purpose; make sure the recording is what the comment says it is.
        assert recorded != {"value": OURS[key]}
        assert _run(key, sample) == OURS[key]
    elif "raises" in recorded:
        with pytest.raises(ImportError) as caught:
            _run(key, sample)
        assert type(caught.value).__name__ == recorded["raises"]["type"]
        assert str(caught.value) == recorded["raises"]["str"]
    else:
        assert _run(key, sample) == recorded["value"]


def test_every_override_is_a_recorded_call() -> None:
    assert set(OURS) <= set(CALLS)


# --- beyond the recorded samples ----------------------------------------------------------

EXTRA = {
    "helperpkg/__init__.py": "from . import tools\n",
    "helperpkg/tools.py": "from .util import base\n\ndef twice(x):\n    return base(x) * 2\n",
    "helperpkg/util.py": "import json\n\ndef base(x):\n    return x\n",
    "helperpkg/unused.py": "X = 1\n",
    "extrajobs.py": """
        import functools
        import json
        import math
        import os.path
        import re
        import xml.etree.ElementTree
        from collections import OrderedDict
        from json import dumps

        from helperpkg.tools import twice

        PATTERN = re.compile("a")

        def uses_from_import(e):
            return dumps(e)

        def uses_class(e):
            return OrderedDict(e)

        def uses_os_path(e):
            return os.path.join(e, "x")

        def uses_deep_submodule(e):
            return xml.etree.ElementTree.fromstring(e)

        def uses_lambda(e):
            return sorted(e, key=lambda k: math.floor(k))

        def uses_comprehension(e):
            return [math.sqrt(k) for k in e]

        def uses_inner_function(e):
            def inner(x):
                return json.loads(x)
            return inner(e)

        def uses_default(e, codec=json):
            return codec.dumps(e)

        def make_closure():
            import base64 as b64
            def closure(e):
                return b64.b64encode(e)
            return closure

        def uses_global_object(e):
            return PATTERN.match(e)

        def uses_optional_import(e):
            try:
                import not_installed_anywhere_zz
            except ImportError:
                return None
            return not_installed_anywhere_zz

        def uses_local_package(e):
            return twice(e)

        def uses_missing(e):
            return missing_module.f(e)

        def uses_builtin_attr(e):
            return str.upper(e)

        def uses_nothing(e):
            return len(e)
    """,
}


@pytest.fixture
def extra(tmp_path: Path) -> Iterator[types.ModuleType]:
    """extrajobs: one job function per kind of module use, beside a local package."""
    root = Path(os.path.realpath(tmp_path))
    for name, text in EXTRA.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module("extrajobs")
    finally:
        _unsandboxed(root)


@pytest.mark.parametrize(
    ("function", "modules"),
    [
        ("uses_from_import", ["json"]),
        ("uses_class", ["collections"]),
        ("uses_os_path", ["os"]),  # os.path is posixpath reached through os: os suffices
        ("uses_deep_submodule", ["xml.etree.ElementTree"]),
        ("uses_lambda", ["math"]),
        ("uses_comprehension", ["math"]),
        ("uses_inner_function", ["json"]),
        ("uses_default", ["json"]),
        ("uses_global_object", ["re"]),  # the node must rebuild a re.Pattern
        ("uses_optional_import", []),  # absent, and guarded: not a reason to fail the job
        ("uses_local_package", ["helperpkg.tools"]),
        ("uses_missing", ["missing_module"]),  # the original's guess, so typos are reported
        ("uses_builtin_attr", []),
        ("uses_nothing", []),
    ],
)
def test_parse_function_finds(function: str, modules: list[str], extra: types.ModuleType) -> None:
    assert modutil.parse_function(getattr(extra, function)) == modules


def test_parse_function_reads_closures_and_partials(extra: types.ModuleType) -> None:
    assert modutil.parse_function(extra.make_closure()) == ["base64"]
    wrapped: Callable[..., Any] = functools.partial(extra.uses_from_import, 1)
    assert modutil.parse_function(wrapped) == ["json"]


def test_local_package_sends_init_and_used_submodules_only(extra: types.ModuleType) -> None:
    root = Path(extra.__file__ or "").parent
    assert modutil.find_modules([extra.uses_local_package]) == [
        ("helperpkg", str(root / "helperpkg" / "__init__.py")),
        ("helperpkg.tools", str(root / "helperpkg" / "tools.py")),
        ("helperpkg.util", str(root / "helperpkg" / "util.py")),  # relative import followed
    ]


def test_exclude_matches_the_written_name_or_the_module(extra: types.ModuleType) -> None:
    function = extra.uses_local_package
    assert modutil.find_modules([function], exclude=["twice"]) == []
    assert modutil.find_modules([function], exclude=["helperpkg"]) == []


def test_missing_module_raises_like_the_original(extra: types.ModuleType) -> None:
    function: Callable[..., Any] = extra.uses_missing
    with pytest.raises(ModUtilImportError) as caught:
        modutil.find_modules([function])
    assert caught.value.error == "No module named 'missing_module'"
    assert caught.value.function is function
    # Not sending, nothing is located: the name is passed on, as the original does.
    assert modutil.find_modules([function], send_modules=False) == ["missing_module"]


def test_installed_and_editable_packages_are_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert modutil.locate_modules(["attrs", "json"], include_sys=True) == [
        ("attrs", None),
        ("json", None),
    ]
    # discoworker is installed editable: its src/ is listed in a .pth file.
    assert modutil.locate_modules(["discoworker.errors"], include_sys=True) == [
        ("discoworker.errors", None)
    ]


def test_pythonpath_makes_a_directory_local(monkeypatch: pytest.MonkeyPatch) -> None:
    import discoworker

    src = os.path.dirname(os.path.dirname(os.path.realpath(discoworker.__file__ or "")))
    monkeypatch.setenv("PYTHONPATH", src)
    located = dict(modutil.locate_modules(["discoworker.errors"], recurse=False))
    assert located == {
        "discoworker": os.path.join(src, "discoworker", "__init__.py"),
        "discoworker.errors": os.path.join(src, "discoworker", "errors.py"),
    }


def test_shipped_packages_are_neither_located_nor_followed_even_on_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import discoworker

    src = os.path.dirname(os.path.dirname(os.path.realpath(discoworker.__file__ or "")))
    (tmp_path / "users_module.py").write_text(
        "import discoworker.app.classic\nimport json\n\ndef helper(x):\n    return x\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{src}{os.pathsep}{tmp_path}")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert modutil.locate_modules(["discoworker.errors"], shipped=["discoworker"]) == []
    located = modutil.locate_modules(["users_module"], shipped=["discoworker"])
    # The user's module goes; discoworker (every job home has it) is not read at all.
    assert located == [("users_module", str((tmp_path / "users_module.py").resolve()))]
    # Without it, the checkout on PYTHONPATH is the user's code, followed module by module.
    assert any(name.startswith("discoworker.") for name, _ in
               modutil.locate_modules(["users_module"]))
