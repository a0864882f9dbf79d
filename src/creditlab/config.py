"""Params-file helpers shared by every section: read YAML, reject unknown keys, build a frozen
dataclass from a mapping with errors that name where the mistake is.

The run's own params (``RunParams``, ``load_params``) live in :mod:`creditlab.run.params`, beside
the stage settings they hold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from creditlab.errors import ConfigError

__all__ = ["parse_date", "parse_section", "read_yaml", "reject_unknown_keys"]


def reject_unknown_keys(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    """Raise :class:`ConfigError` naming ``where`` when ``raw`` has keys outside ``known``."""
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")


def parse_section(cls: type, raw: Any, where: str) -> Any:
    """Build the frozen dataclass ``cls`` from a params mapping (``None``: its defaults).

    Unknown keys and values the dataclass rejects raise :class:`ConfigError` naming ``where``.
    """
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(cls)}, where)
    try:
        return cls(**raw)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return content


def parse_date(value: Any, where: str) -> dt.date:
    """A date from YAML (a date, or text YYYY-MM-DD); errors name ``where``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from exc
