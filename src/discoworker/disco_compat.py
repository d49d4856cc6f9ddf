"""The ``disco`` package of discoworker: the original library's module names, opted into.

``src/discoworker/_disco/disco`` serves Disco 0.5.4's client names (``disco.core``,
``disco.job``, ``disco.worker.classic.func``...) on discoworker. It is not importable until
asked for, so an installed original library is never shadowed:

    python -m discoworker.disco_compat script.py [args...]   # run a Disco script
    PYTHONPATH=$(python -m discoworker.disco_compat --path) python script.py
    pip install ./compat                                       # the discoworker-disco distribution

The distribution adds the directory at the end of ``sys.path`` (after site-packages). A job
packed with these names carries them to its nodes (see :meth:`Worker.jobenvs`).
"""

from __future__ import annotations

import os
import sys

__all__ = ["DISCO_DIR", "enable", "in_use", "path"]

#: The directory under discoworker's package that holds the ``disco`` package.
DISCO_DIR = "_disco"


def path() -> str:
    """The directory to put on ``sys.path`` for ``import disco`` to be discoworker."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), DISCO_DIR)


def in_use() -> bool:
    """Whether the ``disco`` imported in this process is discoworker's."""
    module = sys.modules.get("disco")
    where = getattr(module, "__file__", None) or ""
    return os.path.abspath(where).startswith(path() + os.sep)


def enable(first: bool = True) -> None:
    """Make ``import disco`` give discoworker's (``first``: ahead of an installed original)."""
    directory = path()
    if directory in sys.path:
        return
    if first:
        sys.path.insert(0, directory)
    else:
        sys.path.append(directory)


def main(argv: list[str] | None = None) -> int:
    """``--path``: print the directory; else run a script with ``disco`` being discoworker."""
    import runpy

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--path"]:
        print(path())
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    enable()
    sys.argv = list(args)
    sys.path[1:1] = [os.path.dirname(os.path.abspath(args[0]))]
    runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
