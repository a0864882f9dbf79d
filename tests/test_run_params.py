"""Params files: typed, unknown keys rejected, paths relative to the file, CLI overrides win."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from creditlab.decisions.settings import DecisionSettings
from creditlab.errors import ConfigError
from creditlab.ledger.mapping import parse_mapping
from creditlab.run import settings as settings_module
from creditlab.run.params import RunParams, load_params
from creditlab.run.settings import PaymentSettings, PDSettings


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_shipped_params_load():
    for name in ("weekly", "ci", "ibm_ar", "highradius_ar"):
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
    ci = load_params("params/ci.yaml")  # every stage section set, typed settings included
    again = RunParams.from_dict(json.loads(json.dumps(ci.to_dict())))
    assert again == ci and again.pd_model == ci.pd_model and again.decisions == ci.decisions
    assert again.payment_model.sampler.draws == 300


def test_stage_sections_are_typed_when_the_params_load(tmp_path):
    ci = load_params("params/ci.yaml")
    assert isinstance(ci.pd_model, PDSettings) and ci.pd_model.enabled
    assert ci.pd_model.sampler.draws == 400 and ci.pd_model.gate.max_rhat == 1.05
    assert isinstance(ci.payment_model, PaymentSettings) and ci.payment_model.draws == 200
    assert isinstance(ci.decisions, DecisionSettings) and ci.decisions.draws == 400
    assert [s.name for s in ci.decisions.scenarios] == ["downturn", "construction crisis"]
    # a missing section is a stage that does not run; the manifest records the file's sections
    bare = load_params(write(tmp_path, "data: x\n"))
    assert not (bare.pd_model.enabled or bare.payment_model.enabled or bare.decisions.enabled)
    assert bare.to_dict()["pd_model"] is None and ci.to_dict()["pd_model"]["enabled"] is True


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "pd_model: {sampler: {draw: 10}}",
            r"p.yaml: pd_model.sampler: unknown key\(s\) \['draw'\]",
        ),
        ("pd_model: {predictors: [shoe_size]}", "pd_model.predictors: unknown feature"),
        ("payment_model: {weeks: 99}", "payment_model.weeks: between 1 and 52"),
        (
            "payment_model: {model: {holidays: [FED, Narnia]}}",
            "payment_model.model: holidays: unknown calendar 'Narnia'",
        ),
        ("decisions: {lgd: {default: {mean: 2, sd: 0.1}}}", "decisions.lgd.default"),
        ("decisions: [1, 2]", "decisions: expected a mapping"),
    ],
)
def test_a_mistake_in_any_stage_section_stops_the_load(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        load_params(write(tmp_path, f"data: x\n{section}\n"))


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


def test_cache_keys_change_with_what_changes_the_fit(monkeypatch):
    ci = load_params("params/ci.yaml")
    day = dt.date(2026, 11, 20)
    pd_key, pay_key = ci.pd_model.key("abc", day), ci.payment_model.key("abc", day)
    assert pd_key == load_params("params/ci.yaml").pd_model.key("abc", day)  # stable
    assert pd_key != pay_key and len(pay_key) == 64
    for other in (
        ci.payment_model.key("abd", day),  # other data
        ci.payment_model.key("abc", dt.date(2026, 11, 27)),  # other date
        dataclasses.replace(
            ci.payment_model, sampler=dataclasses.replace(ci.payment_model.sampler, seed=4)
        ).key("abc", day),
    ):
        assert other != pay_key
    # forecast-only settings reuse the fit: more weeks or draws need no new sampling
    assert dataclasses.replace(ci.payment_model, weeks=26, draws=500).key("abc", day) == pay_key
    # a fit cached before the payment model learnt more (FIT_VERSION) is not reused
    monkeypatch.setattr(settings_module, "FIT_VERSION", settings_module.FIT_VERSION + 1)
    assert ci.payment_model.key("abc", day) != pay_key
