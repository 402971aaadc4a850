"""Typed source settings: each option parses and validates its own value, the same way
from the CLI, a form and a stored value, and renders a click option."""

from __future__ import annotations

from decimal import Decimal

import click
import pytest
from click.testing import CliRunner

from adapters import registry
from adapters.base import SourceError
from adapters.options import (
    BoolOption,
    ChoiceOption,
    DecimalOption,
    IntOption,
    ListOption,
    OptionError,
    PathOption,
    TextOption,
    parse_settings,
)


@pytest.mark.parametrize(("option", "given", "parsed"), [
    (BoolOption("b", "B"), "no", False), (BoolOption("b", "B"), "Yes", True),
    (BoolOption("b", "B"), False, False), (BoolOption("b", "B"), "1", True),
    (IntOption("i", "I", minimum=0), "12", 12), (IntOption("i", "I"), 7, 7),
    (DecimalOption("d", "D"), "0.10", Decimal("0.10")), (DecimalOption("d", "D"), 0.001,
                                                         Decimal("0.001")),
    (ChoiceOption("header", "H", choices=("auto", "yes", "no")), "NO", "no"),
    (ChoiceOption("header", "H", choices=("auto", "yes", "no")), False, "no"),
    (ChoiceOption("t", "T", choices=("", ",", ".")), "", ""),
    (ListOption("l", "L"), "a, b,,c", ["a", "b", "c"]), (ListOption("l", "L"), ["x"], ["x"]),
    (ListOption("p", "P", separator="\n"), "a,b\nc", ["a,b", "c"]),
    (TextOption("t", "T"), "", None), (PathOption("p", "P"), "~/x.csv", None),
])  # fmt: skip
def test_each_option_parses_text_and_typed_values(option, given, parsed) -> None:  # type: ignore[no-untyped-def]
    got = option.parse(given)
    if isinstance(option, PathOption):
        assert got is not None and got.endswith("x.csv") and "~" not in got
    else:
        assert got == parsed


@pytest.mark.parametrize(("option", "given", "message"), [
    (BoolOption("b", "B"), "Currency", "'Currency' is not yes or no"),
    (IntOption("i", "I"), "1.5", "'1.5' is not a whole number"),
    (IntOption("i", "I"), "١٢", "'١٢' is not a whole number"),
    (IntOption("i", "I", minimum=1), "0", "0 is below the minimum 1"),
    (DecimalOption("d", "D"), "1e3", "'1e3' is not a decimal number"),
    (DecimalOption("d", "D"), True, "True is not a decimal number"),
    (ChoiceOption("h", "H", choices=("auto", "yes", "no")), "maybe",
     "'maybe' is not one of auto, yes, no"),
])  # fmt: skip
def test_invalid_values_are_one_line_naming_the_setting(option, given, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OptionError) as info:
        option.parse(given)
    assert info.value.message == message and info.value.name == option.name


def test_adapters_receive_parsed_values() -> None:
    adapter = registry.get("csv")("s", {"path": "x.csv", "date_column": "D",
                                        "amount_column": "A", "skip_lines": "3",
                                        "debit_positive": "yes", "header": "no"})  # fmt: skip
    assert adapter.settings["skip_lines"] == 3 and adapter.settings["debit_positive"] is True
    assert adapter.settings["header"] == "no"
    with pytest.raises(SourceError) as info:
        registry.get("csv")("s", {"path": "x.csv", "date_column": "D", "amount_column": "A",
                                  "debit_positive": "Currency"})  # fmt: skip
    assert info.value.where == "debit_positive"
    assert info.value.message == "'Currency' is not yes or no"
    ccxt = registry.get("ccxt")("k", {"exchange": "kraken", "assets": "btc, eth",
                                      "max_pages": "5"}, {"apiKey": "a", "secret": "b"})
    assert ccxt.assets == {"BTC", "ETH"} and ccxt.max_pages == 5


def test_required_settings_are_checked() -> None:
    with pytest.raises(OptionError) as info:
        parse_settings((TextOption("exchange", "E", required=True),), {})
    assert info.value.message == "is required"


def test_options_render_click_options() -> None:
    opts = [IntOption("skip_lines", "Lines to skip"), BoolOption("debit_positive", "Debit +"),
            ChoiceOption("header", "Header", choices=("auto", "yes", "no"))]
    seen: dict[str, object] = {}

    @click.command(params=[o.to_click() for o in opts])
    def cmd(**values: object) -> None:
        seen.update({o.name: o.parse(values[o.name]) for o in opts})

    result = CliRunner().invoke(cmd, ["--skip-lines", "2", "--no-debit-positive",
                                      "--header", "no"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen == {"skip_lines": 2, "debit_positive": False, "header": "no"}
    bad = CliRunner().invoke(cmd, ["--header", "maybe"])
    assert bad.exit_code != 0
