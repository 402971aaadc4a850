"""Numbers an accountant trusts (issue 16.2): display places per asset (fiat 2, BTC 8,
ETH 8 by default, configurable), thousands separators, a true minus, the exact value where
a record is shown whole; the dashboard's differences labelled for what they are."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from recon_tui import formatting as f
from recon_tui.model import Side, SourcePair
from recon_tui.screens.dashboard import difference_text, side_differences
from recon_tui.services.dashboard import PairSummary, SideSummary

D = Decimal


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("RECON_TUI_PLACES", raising=False)
    f.configure()
    yield
    f.configure()


def test_display_places_and_separators() -> None:
    assert f.fmt_money(D("-1249.29"), "EUR") == "−1,249.29"
    assert f.fmt_money(D("1234567.5"), "USD") == "1,234,567.50"
    assert f.fmt_money(D("-115.241583294501637763"), "ETH") == "−115.24158329"
    assert f.fmt_money(D("0.5"), "BTC") == "0.50000000"
    assert f.fmt_money(D("12.345"), "EUR") == "12.34"  # half-even, like the books
    assert f.fmt_money(D("1000"), "JPY") == "1,000"
    assert f.fmt_money(D("1.123456789"), "XYZ") == "1.12345679"  # unknown: 8 places
    assert f.fmt_amounts({"EUR": D("1250"), "BTC": D(0)}) == "1,250.00 EUR"
    assert f.fmt_amounts({}) == "0"


def test_exact_value_keeps_every_digit() -> None:
    assert f.fmt_exact(D("-115.241583294501637763"), "ETH") == "−115.241583294501637763"
    assert f.fmt_exact(D("1249.2"), "EUR") == "1,249.20"
    assert f.is_rounded(D("-115.241583294501637763"), "ETH")
    assert not f.is_rounded(D("1249.29"), "EUR")


def test_places_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_TUI_PLACES", "ETH=4, sol=3")
    f.configure()
    assert f.fmt_money(D("1.234567"), "ETH") == "1.2346"
    assert f.fmt_money(D("1.234567"), "SOL") == "1.235"
    f.configure({"EUR": 0})
    assert f.fmt_money(D("1249.5"), "EUR") == "1,250"
    with pytest.raises(ValueError, match="'ETH=x' is not ASSET=N"):
        f.parse_places("ETH=x")


def test_dashboard_says_open_and_suggested_differences_apart() -> None:
    """ledger-kraken BTC from the issue: open alone is 0.153, open + suggested 0.718."""
    left, right = SideSummary(), SideSummary()
    left.amounts = {"open": {"BTC": D("1.153")}, "suggested": {"BTC": D("0.600")}}
    right.amounts = {"open": {"BTC": D("1.000")}, "suggested": {"BTC": D("0.035")}}
    p = PairSummary(SourcePair("ledger-kraken", Side("ledger", "kraken"), Side("kraken")),
                    left, right, [0, 0, 0, 0], {"BTC": D("0.718")})  # fmt: skip
    assert side_differences(p, "open") == {"BTC": D("0.153")}
    assert side_differences(p, "suggested") == {"BTC": D("0.565")}
    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO())
    console.print(difference_text(p))
    text = console.export_text()
    assert "open L − R BTC" in text and "0.15300000" in text
    assert "sugg. L − R BTC" in text and "0.56500000" in text
    assert "0.71800000" not in text  # the mixed figure under 'open' is gone
