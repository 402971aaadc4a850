"""Named CSV mappings for widely used exports (``--set preset=revolut``).

A preset is only a set of CSV settings; anything the user sets on the source overrides
it. Each preset is tested against a real sample export in ``tests/data/real/csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Preset:
    """A known export layout."""

    name: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {}


def _add(name: str, label: str, **settings: Any) -> None:
    PRESETS[name] = Preset(name, label, settings)


_add("revolut", "Revolut account statement (Type, Product, Started Date, ... Balance)",
     date_column="Completed Date", amount_column="Amount", fee_column="Fee",
     currency_column="Currency", balance_column="Balance", memo_column="Description",
     kind_column="Type", kind_map="TOPUP=deposit,CARD_PAYMENT=card,ATM=withdrawal,"
     "TRANSFER=transfer,EXCHANGE=trade,FEE=fee,CARD_REFUND=card,REFUND=card",
     skip_rows="^(REVERTED|DECLINED|FAILED|PENDING)$", delimiter=",")
_add("n26", "N26 transactions export (Booking Date, Value Date, Partner Name, ... Amount (EUR))",
     date_column="Booking Date", value_date_column="Value Date", amount_column="Amount (EUR)",
     counterparty_column="Partner Name", memo_column="Payment Reference", currency="EUR",
     kind_column="Type", delimiter=",", escapechar="\\")
_add("wise", "Wise statement (TransferWise ID, Date, Amount, ... Running Balance, Total fees)",
     id_column="TransferWise ID", date_column="Date", date_formats="%d-%m-%Y,%Y-%m-%d",
     amount_column="Amount", currency_column="Currency", memo_column="Description",
     reference_column="Payment Reference", balance_column="Running Balance",
     fee_column="Total fees", fee_included=True, counterparty_column="Merchant",
     delimiter=",")
_add("ing", "ING Germany (ING-DiBa) Umsatzanzeige (Buchung; Valuta; ... Saldo; Betrag)",
     delimiter=";", decimal=",", thousands=".", date_formats="%d.%m.%Y", date_column="Buchung",
     value_date_column="Valuta", counterparty_column="Auftraggeber/Empfänger",
     memo_column="Verwendungszweck", balance_column="Saldo", currency_column="Währung",
     amount_column="Betrag", encoding="latin-1")
_add("coinbase", "Coinbase transaction report (Timestamp, Transaction Type, Asset, Quantity ...)",
     date_column="Timestamp", date_formats="%m/%d/%Y,%Y-%m-%dT%H:%M:%SZ,%Y-%m-%d",
     amount_column="Quantity Transacted", currency_column="Asset",
     direction_column="Transaction Type", kind_column="Transaction Type",
     credit_markers="Buy,Receive,Coinbase Earn,Rewards Income,Staking Income,Learning Reward,"
     "Advanced Trade Buy,Deposit",
     debit_markers="Sell,Send,Advanced Trade Sell,Withdrawal",
     kind_map="Buy=trade,Sell=trade,Send=withdrawal,Receive=deposit,Rewards Income=interest,"
     "Staking Income=interest,Coinbase Earn=rebate",
     memo_column="Notes", delimiter=",")
_add("coinbase-wallet", "Coinbase wallet export (Timestamp, Balance, Amount, Currency, To ...)",
     date_column="Timestamp", date_formats="%m/%d/%y,%m/%d/%Y,%Y-%m-%d", amount_column="Amount",
     currency_column="Currency", balance_column="Balance", counterparty_column="To",
     memo_column="Notes", id_column="Coinbase ID (visit https://www.coinbase.com/transactions/"
     "[ID] in your browser)", delimiter=",")
_add("kraken", "Kraken ledgers report (txid, refid, time, type, ... amount, fee, balance)",
     id_column="txid", reference_column="refid", date_column="time", amount_column="amount",
     fee_column="fee", balance_column="balance", currency_column="asset", kind_column="type",
     kind_map="deposit=deposit,withdrawal=withdrawal,trade=trade,transfer=transfer,"
     "staking=interest,earn=interest,spend=trade,receive=trade,margin=trade,"
     "rollover=fee,adjustment=adjustment,settled=settlement",
     skip_if_empty="txid", delimiter=",")
_add("zkb", "Zürcher Kantonalbank (Date; Booking text; ... Debit CHF; Credit CHF; Balance CHF)",
     delimiter=";", date_formats="%d.%m.%Y", date_column="Date", value_date_column="Value date",
     memo_column="Booking text", id_column="ZKB reference", debit_column="Debit CHF",
     credit_column="Credit CHF", balance_column="Balance CHF", currency="CHF")
