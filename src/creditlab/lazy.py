"""Public names imported on first use (PEP 562), so ``import creditlab`` and the console script
start in a fraction of a second and load only what a command or notebook touches."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each public name to the module
    that defines it (the module itself when the name is ``package.<name>``); a name, once
    imported, is kept in ``namespace`` (the package's globals) so it is looked up only once."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = importlib.import_module(module)
        if module != f"{package}.{name}":
            value = getattr(value, name)
        namespace[name] = value
        return value

    return __getattr__
