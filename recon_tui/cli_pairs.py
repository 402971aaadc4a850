"""The ``recon-tui pair`` commands: list, add (validated), edit and remove source pairs,
through :class:`recon_tui.services.pairs.PairService` (a refusal is one line)."""

from __future__ import annotations

from typing import Any

import click


def _service(c: Any) -> Any:
    from recon_tui.services.pairs import PairService

    return PairService(c.store())


def register(cli: click.Group, pass_ctx: Any) -> None:
    """Add the ``pair`` group to the CLI (``pass_ctx`` passes the CLI's context object)."""

    @cli.group()
    def pair() -> None:
        """Source pairs to reconcile."""

    @pair.command("add")
    @click.argument("name")
    @click.argument("left")
    @click.argument("right")
    @click.option("--left-account", default=None)
    @click.option("--right-account", default=None)
    @click.option("--rules", default="default", show_default=True)
    @pass_ctx
    def pair_add(c: Any, name: str, left: str, right: str, left_account: str | None,
                 right_account: str | None, rules: str) -> None:  # fmt: skip
        """Reconcile source LEFT (optionally one account) against source RIGHT."""
        from recon_tui.model import Side, SourcePair

        _service(c).add(
            SourcePair(name, Side(left, left_account), Side(right, right_account), rules)
        )
        click.echo(f"Pair '{name}' added.")

    @pair.command("edit")
    @click.argument("name")
    @click.option("--left", "left", default=None, help="New left source.")
    @click.option("--left-account", default=None)
    @click.option("--right", "right", default=None, help="New right source.")
    @click.option("--right-account", default=None)
    @click.option("--rules", default=None)
    @pass_ctx
    def pair_edit(c: Any, name: str, left: str | None, left_account: str | None,
                  right: str | None, right_account: str | None, rules: str | None) -> None:  # fmt: skip
        """Change a pair's rules, or its sides while it has no confirmed group."""
        from recon_tui.model import Side

        svc = _service(c)
        old = svc.get(name)
        if old is None:
            raise click.ClickException(f"no source pair '{name}' (see 'recon-tui pair list')")
        new_left = (Side(left or old.left.source, left_account if left_account is not None
                         else old.left.account) if left or left_account is not None else None)
        new_right = (Side(right or old.right.source, right_account if right_account is not None
                          else old.right.account) if right or right_account is not None else None)
        p = svc.edit(name, left=new_left, right=new_right, rules=rules)
        click.echo(f"Pair '{name}': {p.left.label()} vs {p.right.label()}  rules={p.rules}")

    @pair.command("remove")
    @click.argument("name")
    @pass_ctx
    def pair_remove(c: Any, name: str) -> None:
        """Remove a pair (refused while a closed session depends on it)."""
        _service(c).remove(name)
        click.echo(f"Pair '{name}' removed.")

    @pair.command("list")
    @pass_ctx
    def pair_list(c: Any) -> None:
        """List the pairs."""
        for p in _service(c).list():
            click.echo(f"{p.name:<16} {p.left.label()} vs {p.right.label()}  rules={p.rules}")

    @pair.command("limits")
    @click.argument("name")
    @click.option("--reason", default=None,
                  help="fee, fx, rounding or write-off; without it, the pair's own limit.")
    @click.option("--abs", "absolute", multiple=True, metavar="ASSET=AMOUNT",
                  help="An absolute bound for one asset (repeat per asset).")
    @click.option("--rel", "relative", default=None, metavar="PERCENT",
                  help="A bound relative to the gross, in percent (e.g. 0.5).")
    @click.option("--reset", is_flag=True, help="Back to the defaults.")
    @pass_ctx
    def pair_limits(c: Any, name: str, reason: str | None, absolute: tuple[str, ...],
                    relative: str | None, reset: bool) -> None:  # fmt: skip
        """Show or set pair NAME's write-off limits (a manual match beyond them is refused
        unless a typed reason's own limit covers the difference)."""
        from decimal import Decimal, InvalidOperation

        from recon_tui.services import writeoff

        store = c.store()
        try:
            if reset:
                writeoff.set_limits(store, name, None)
            elif absolute or relative is not None:
                bounds: dict[str, Decimal] = {}
                for item in absolute:
                    asset, _, amount = item.partition("=")
                    bounds[asset.strip().upper()] = Decimal(amount.strip())
                rel = None if relative is None else Decimal(relative.rstrip("%")) / 100
                if any(v < 0 for v in bounds.values()) or (rel is not None and rel < 0):
                    raise ValueError("limits cannot be negative")
                new = writeoff.with_limit(writeoff.policy(store, name), reason, bounds, rel)
                writeoff.set_limits(store, name, new)
            elif _service(c).get(name) is None:
                raise ValueError(f"no source pair '{name}'")
        except InvalidOperation:
            raise click.ClickException(f"pair '{name}': a limit is not a decimal number "
                                       f"(give e.g. --abs EUR=15.00 --rel 0.5)") from None
        except ValueError as exc:
            raise click.ClickException(f"pair '{name}': {exc}") from None
        p = writeoff.policy(store, name)

        def show(label: str, lim: Any) -> str:
            parts = [f"{a} {v:,}" for a, v in sorted(lim.absolute.items())]
            rel = "" if lim.relative is None else f"{writeoff.percent(lim.relative)} of the gross"
            return f"  {label:<10} " + " and ".join(x for x in (", ".join(parts), rel) if x)

        click.echo(f"{name}: write-off limits (a difference within 'pair' needs no reason)")
        click.echo(show("pair", p.limit))
        for r, lim in sorted(p.reasons.items()):
            click.echo(show(r, lim))
