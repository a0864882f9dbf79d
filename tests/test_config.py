"""Params files: typed, unknown keys rejected, paths relative to the file, CLI overrides win."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlab.config import RunParams, load_params
from creditlab.errors import ConfigError
from creditlab.ledger.mapping import parse_mapping


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_shipped_params_load():
    for name in ("weekly", "ci", "ibm_ar"):
        params = load_params(f"params/{name}.yaml")
        assert params.as_of is not None and len(params.sha256) == 64
        parse_mapping(params.mapping)


def test_paths_are_relative_to_the_file_and_overrides_win(tmp_path):
    params = load_params(write(tmp_path, "data: ledger\nas_of: 2024-01-31\n"))
    assert params.data == (tmp_path / "ledger").resolve()
    over = load_params(tmp_path / "p.yaml", data="/elsewhere", as_of="2024-02-29")
    assert str(over.data) == "/elsewhere" and over.as_of == dt.date(2024, 2, 29)


def test_round_trip_through_a_run_folder(tmp_path):
    params = load_params(write(tmp_path, "synthetic: {customers: 9}\nas_of: 2024-01-31\n"))
    assert RunParams.from_dict(params.to_dict()) == params


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: x\ncolour: blue\n", r"unknown key\(s\) \['colour'\]"),
        ("data: x\ntop_n: ten\n", "top_n: expected int"),
        ("data: x\nstrict: 1\n", "strict: expected bool"),
        ("data: x\nas_of: 31/01/2024\n", "expected a date"),
        ("title: only\n", "give either 'data'"),
        ("data: x\ncurrency: euro\n", "ISO 4217"),
        ("synthetic: {customers: 5, size: 3}\n", r"unknown key\(s\) \['size'\]"),
        ("data: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_bad_params_are_config_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_params(write(tmp_path, text))


def test_missing_params_file():
    with pytest.raises(ConfigError, match="file not found"):
        load_params("nope.yaml")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"colour": 1}, "unknown key"),
        ({"columns": {"orders": {}}}, "unknown table 'orders'"),
        ({"columns": {"invoices": {"amount_eur": "Amt"}}}, "unknown canonical column"),
        ({"delimiter": ";;"}, "one character"),
        ({"derive_customers": {"columns": {"colour": "x"}}}, "unknown customer column"),
    ],
)
def test_bad_mappings_are_config_errors(mapping, message):
    with pytest.raises(ConfigError, match=message):
        parse_mapping(mapping)
