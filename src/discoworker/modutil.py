"""Find the modules job functions need (Disco's ``disco.worker.modutil``).

``required_modules`` entries are module names to import on the nodes, or ``(name, path)``
pairs for local module files to send with the job; ``find_modules`` builds that list.
"""

from __future__ import annotations

from discoworker.adapters.modules_ast import (
    ModuleFinder,
    RequiredModule,
    find_modules,
    locate_modules,
    parse_function,
)
from discoworker.errors import ModUtilImportError

__all__ = [
    "ModUtilImportError",
    "ModuleFinder",
    "RequiredModule",
    "find_modules",
    "locate_modules",
    "parse_function",
]
