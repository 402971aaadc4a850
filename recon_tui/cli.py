"""The ``recon-tui`` command line: a thin layer over the services (the app calls the same).

No argument opens the app. Every error is one line on stderr and a non-zero exit; an
unexpected crash writes a report file (see :mod:`recon_tui.crash`) instead of a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from recon_tui import paths
from recon_tui.crash import write_crash_report
from recon_tui.store import Store, StoreError
from recon_tui.store.lock import run_lock

DURATION_RE = re.compile(r"^(\d+)\s*([smhd]?)$")


def parse_duration(text: str) -> int:
    """'90', '90s', '5m', '2h', '1d' -> seconds."""
    m = DURATION_RE.match(text.strip().lower())
    if not m:
        raise click.BadParameter(f"'{text}' is not a duration like 30s, 5m, 2h or 1d")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


class Ctx:
    """What the group passes to subcommands: where the store is and how to open it."""

    def __init__(self, store_path: Path | None, demo: bool) -> None:
        self.store_path = store_path
        self.demo = demo
        self._store: Store | None = None
        self._held: contextlib.ExitStack | None = None

    def hold(self, kind: str) -> None:
        """Take the store's run lock for the rest of the command, before opening the store
        (a rekey must finish before we read its key); waits with a message, or one line."""
        if self._held is None:
            stack = contextlib.ExitStack()
            stack.enter_context(run_lock(self.path, kind, say=_say))
            self._held = stack

    def run(self, kind: str) -> contextlib.AbstractContextManager[None]:
        """The run lock for one block (``sync --every`` holds it per tick, not while idle)."""
        return run_lock(self.path, kind, say=_say)

    @property
    def path(self) -> Path:
        if self.store_path:
            return self.store_path
        return paths.demo_store() if self.demo else paths.default_store()

    def store(self) -> Store:
        if self._store is None:
            from recon_tui.services import workspace

            if self.demo:
                self._store = workspace.open_demo(self.path)
            else:
                self._store = _open_with_tries(workspace.open_store, self.path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._held is not None:
            self._held.close()
            self._held = None


def _say(line: str) -> None:
    click.echo(line, err=True)


PASSPHRASE_TRIES = 3


def _open_with_tries(open_store: Callable[[Path], Store], path: Path) -> Store:
    """A typed passphrase gets three tries (a typo is not the end of the session); one from
    the environment, or a keyring key, gets one."""
    from recon_tui.store.errors import StoreKeyError
    from recon_tui.store.keys import PASSPHRASE_ENV

    for attempt in range(1, PASSPHRASE_TRIES + 1):
        try:
            return open_store(path)
        except StoreKeyError:
            typed = sys.stdin.isatty() and not os.environ.get(PASSPHRASE_ENV)
            if not typed or attempt == PASSPHRASE_TRIES:
                raise
            left = PASSPHRASE_TRIES - attempt
            click.echo(f"that passphrase does not open {path}; {left} tr"
                       f"{'y' if left == 1 else 'ies'} left", err=True)  # fmt: skip
    raise AssertionError("unreachable")


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    envvar="RECON_TUI_STORE",
    help="Path of the store (default: your data directory's recon.db).",
)
@click.option("--demo", is_flag=True, help="Use the demo workspace (see 'recon-tui demo').")
@click.version_option(package_name="recon-tui")
@click.pass_context
def cli(ctx: click.Context, store_path: Path | None, demo: bool) -> None:
    """recon-tui: reconcile ledger, exchanges, banks and the chain from the keyboard."""
    ctx.obj = Ctx(store_path, demo)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        _run_app(ctx.obj)


def _run_app(c: Ctx) -> None:
    from recon_tui.app import ReconApp

    store = c.store()
    ReconApp(store).run()


@cli.command()
@click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="Derive the key from a passphrase even if an OS keyring exists.",
)
@pass_ctx
def init(c: Ctx, use_passphrase: bool) -> None:
    """Create a new encrypted store (refuses to overwrite one)."""
    store = Store.init(c.path, use_keyring=False if use_passphrase else None)
    where = "the OS keyring" if store.info.method == "keyring" else "your passphrase (scrypt)"
    click.echo(f"Created store {store.path}; its key is kept in {where}.")
    store.close()


@cli.command()
@click.option("--size", default=400, show_default=True, help="Records per source.")
@click.option("--seed", default=7, show_default=True)
@click.option("--fresh", is_flag=True, help="Throw the existing demo store away first.")
@click.option("--open/--no-open", "open_app", default=False, help="Open the app afterwards.")
@pass_ctx
def demo(c: Ctx, size: int, seed: int, fresh: bool, open_app: bool) -> None:
    """Build the demo workspace (a generated crypto company) and optionally open it."""
    from recon_tui.services import workspace

    path = c.store_path or paths.demo_store()
    existed = path.exists() and not fresh
    store = workspace.build_demo(path, size=size, seed=seed, fresh=fresh, progress=click.echo)
    if existed:
        click.echo(f"Demo store {path} already exists (use --fresh to rebuild it).")
    else:
        click.echo(f"Demo store ready: {path}")
    if open_app:
        from recon_tui.app import ReconApp

        ReconApp(store).run()
    store.close()


@cli.group()
def source() -> None:
    """Add, list and remove sources."""


@source.command("kinds")
def source_kinds() -> None:
    """List the source kinds with their settings and secrets."""
    from adapters import registry

    for kind in registry.kinds():
        try:
            cls = registry.get(kind)
        except Exception as exc:  # a broken plugin must not hide the others
            click.echo(f"{kind:<12} (unavailable: {exc})")
            continue
        caps = cls.capabilities
        click.echo(f"{kind:<12} {cls.label}  [paging: {caps.paging}]")
        for s in cls.SETTINGS:
            req = " (required)" if s.required else ""
            click.echo(f"{'':<14}--set {s.name}=…  {s.label}{req}")
        for s in cls.SECRETS:
            click.echo(f"{'':<14}--secret {s.name}  {s.label} (kept in the OS keyring)")


@source.command("add")
@click.argument("name")
@click.argument("kind")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A setting.")
@click.option(
    "--secret",
    "secret_names",
    multiple=True,
    metavar="NAME",
    help="A secret to prompt for (or read from RECON_TUI_SECRET_<NAME>).",
)
@click.option("--label", default=None)
@click.option("--every", default=None, help="Sync interval, e.g. 5m.")
@click.option("--replace", is_flag=True, help="Update an existing source's settings.")
@pass_ctx
def source_add(c: Ctx, name: str, kind: str, settings: tuple[str, ...],
               secret_names: tuple[str, ...], label: str | None, every: str | None,
               replace: bool) -> None:  # fmt: skip
    """Add a source NAME of KIND (see 'recon-tui source kinds')."""
    import os

    from recon_tui.services.sources import SourceSettingsError, add_source, set_secret

    values = _settings_arg(settings)
    store = c.store()
    try:
        add_source(store, name, kind, values, label=label,
                   interval_s=parse_duration(every) if every else None, replace=replace)
        for secret in secret_names:
            env = f"RECON_TUI_SECRET_{secret.upper()}"
            value = os.environ.get(env) or click.prompt(f"{secret} for {name}", hide_input=True)
            where = set_secret(store, name, secret, value)
            click.echo(f"Secret '{secret}' saved in the "
                       f"{'OS keyring' if where == 'keyring' else 'encrypted store'}.")
    except SourceSettingsError as exc:
        raise click.ClickException(f"source '{name}': {exc}") from None
    click.echo(f"Source '{name}' ({kind}) {'updated' if replace else 'added'}.")


@source.command("edit")
@click.argument("name")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A setting to change (KEY= clears it).")
@pass_ctx
def source_edit(c: Ctx, name: str, settings: tuple[str, ...]) -> None:
    """Change settings of source NAME; each value is checked by its typed option."""
    from recon_tui.services.sources import SourceSettingsError, edit_source

    try:
        edit_source(c.store(), name, _settings_arg(settings))
    except SourceSettingsError as exc:
        raise click.ClickException(f"source '{name}': {exc}") from None
    click.echo(f"Source '{name}' updated.")


def _settings_arg(items: tuple[str, ...]) -> dict[str, str]:
    """``--set KEY=VALUE`` pairs as text: the source's typed options parse them."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="--set")
        values[key.strip()] = value
    return values


@source.command("list")
@pass_ctx
def source_list(c: Ctx) -> None:
    """List sources and their settings (never their secrets)."""
    from recon_tui.store.sources import list_sources

    for s in list_sources(c.store()):
        every = f" every {s.interval_s}s" if s.interval_s else ""
        click.echo(f"{s.name:<12} {s.kind:<10}{every} {json.dumps(s.settings, ensure_ascii=False)}")


@source.command("remove")
@click.argument("name")
@pass_ctx
def source_remove(c: Ctx, name: str) -> None:
    """Remove a source's configuration (its records stay)."""
    from recon_tui.store.sources import remove_source

    remove_source(c.store(), name)
    click.echo(f"Source '{name}' removed.")


from recon_tui.cli_pairs import register as _register_pairs  # noqa: E402

_register_pairs(cli, pass_ctx)


@cli.command("import")
@click.argument("source_name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def import_(c: Ctx, source_name: str, file: Path) -> None:
    """Import a statement or ledger FILE into file source SOURCE_NAME (idempotent)."""
    from recon_tui.services.sources import SourceSettingsError, check_import
    from recon_tui.services.sync import import_file

    c.hold("import")
    store = c.store()
    try:
        check_import(store, source_name)
    except SourceSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    report = import_file(store, source_name, str(file))
    if not report.ok:
        raise click.ClickException(report.error or "import failed")
    click.echo(report.line())
    for w in report.warnings:
        click.echo(f"warning: {w}")
    _match_after(c, report.changed_ids)


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--every", default=None,
              help="Keep running: every tick (e.g. 1m) sync the sources whose own interval "
                   "has elapsed; sources without one sync every tick.")
@click.option("--no-match", is_flag=True, help="Do not run the matchers after syncing.")
@pass_ctx
def sync(c: Ctx, sources: tuple[str, ...], every: str | None, no_match: bool) -> None:
    """Sync sources (default: all), incrementally; one failing source does not stop others."""
    from recon_tui.services.sync import sync_all

    if every:  # the service's scheduler, in this process, with sync jobs only
        from recon_tui.cli_service import sync_every

        sync_every(c, sources, parse_duration(every), match=not no_match)
        return
    store = c.store()
    with c.run("sync"):  # one writing run at a time (the lock before the store's key)
        reports = sync_all(store, list(sources) or None)
        changed: list[int] = []
        for r in reports:
            click.echo(r.line())
            changed.extend(r.changed_ids)
        if not no_match:
            _match_after(c, changed)
    if any(not r.ok for r in reports):
        sys.exit(1)


def _match_after(c: Ctx, changed_ids: list[int]) -> None:
    if not changed_ids:
        return
    from recon_tui.services.matching import MatchService

    for line in MatchService(c.store(), warm=False).run_all(changed_ids=changed_ids).lines():
        click.echo("match: " + line)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print what would be confirmed and suggested.")
@click.option("--pair", "pair_names", multiple=True, help="Only these pairs.")
@click.option("--full", is_flag=True, help="Re-evaluate every open item, not only changes.")
@pass_ctx
def match(c: Ctx, dry_run: bool, pair_names: tuple[str, ...], full: bool) -> None:
    """Run the matchers headless (incremental unless --full)."""
    from recon_tui.services.matching import MatchService

    if not dry_run:
        c.hold("match")
    result = MatchService(c.store(), warm=dry_run).run_all(
        pairs=list(pair_names) or None, dry_run=dry_run, full=full
    )
    for line in _external_id_lines(c.store(), result.lines(verbose=dry_run)):
        click.echo(line)


def _external_id_lines(store: Store, lines: list[str]) -> list[str]:
    """``L[1957] R[171]`` -> ``L[JE00001957 #1957] R[BNK-171 #171]``: a record is named
    by its external id (the bank's, the file's) as well as the store's id."""
    from recon_tui.store.records import get_records

    pattern = re.compile(r"\b([LR])\[([\d, ]*)\]")
    ids = sorted({int(i) for line in lines for _, grp in pattern.findall(line)
                  for i in grp.replace(" ", "").split(",") if i})  # fmt: skip
    names: dict[int, str] = {}
    conn = store.connection()
    for k in range(0, len(ids), 500):
        names.update((r.id, r.external_id) for r in get_records(conn, ids[k : k + 500])
                     if r.id is not None)  # fmt: skip

    def named(m: re.Match[str]) -> str:
        got = [int(i) for i in m.group(2).replace(" ", "").split(",") if i]
        shown = ", ".join(f"{names.get(i, '?')} #{i}" for i in got)
        return f"{m.group(1)}[{shown}]"

    return [pattern.sub(named, line) for line in lines]


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def status(c: Ctx, as_json: bool) -> None:
    """Sources with their health, and open/suggested/matched counts per pair."""
    from recon_tui.services.status import status as get_status
    from recon_tui.services.status import status_text

    data = get_status(c.store())
    click.echo(json.dumps(data, indent=2) if as_json else status_text(data))


@cli.command()
@click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="Switch to (or stay with) a passphrase-derived key.",
)
@pass_ctx
def rekey(c: Ctx, use_passphrase: bool) -> None:
    """Rotate the store's key (re-encrypts every page). Ctrl+C and SIGTERM wait until the
    store is consistent; an interruption at any point leaves the old or the new key working."""
    c.hold("rekey")
    store = c.store()
    try:
        store.rekey(use_keyring=False if use_passphrase else None)
    except KeyboardInterrupt:
        click.echo("Interrupted after the rekey finished: the store is under its new key.",
                   err=True)  # fmt: skip
        sys.exit(130)
    where = "the OS keyring" if store.info.method == "keyring" else "your new passphrase"
    click.echo(f"Store re-encrypted under a new key, kept in {where}.")


@cli.command()
@click.option("--full/--since-watermark", default=True, help="Walk every row and page "
              "(default), or only what came after the last verified watermark.")  # fmt: skip
@pass_ctx
def verify(c: Ctx, full: bool) -> None:
    """Check the decisions log: its hash chain, its remembered head (a deleted newest entry),
    and that match-group states agree with it; exit 1 on any problem."""
    from recon_tui.services.verify import verify_store

    report = verify_store(c.store(), full=full)
    if report.ok:
        walk = "full walk" if report.full else "after the verified watermark"
        click.echo(f"Audit trail intact: {report.entries:,} decisions, head {report.head[:16]} "
                   f"({walk}).")  # fmt: skip
        return
    lines = report.lines()
    for line in lines[1:]:
        click.echo(line)
    click.echo(lines[0], err=True)
    sys.exit(1)


@cli.group()
def session() -> None:
    """Reconciliation sessions: open a pair's period, resolve it, close, reopen, export."""


@session.command("open")
@click.option("--pair", "pairs", multiple=True, required=True, help="A source pair (repeatable).")
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD, UTC), included.")
@click.option("--to", "end", required=True, help="End day (YYYY-MM-DD, UTC), excluded.")
@click.option("--name", default=None, help="A name (default: pairs and period).")
@click.option("--as-of", "as_of", default=None, help="Data cut-off time (default: now).")
@pass_ctx
def session_open(c: Ctx, pairs: tuple[str, ...], start: str, end: str, name: str | None,
                 as_of: str | None) -> None:  # fmt: skip
    """Open a session over --pair for the period [--from, --to)."""
    from recon_tui.services import sessions

    c.hold("session open")
    s = sessions.open_session(c.store(), list(pairs), start, end, name=name, as_of=as_of)
    opened = s.summary.get("open", {})
    click.echo(f"Opened session {s.id} '{s.name}' ({s.scope.label()}): "
               f"{opened.get('records', 0):,} records in scope.")  # fmt: skip


@session.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def session_list(c: Ctx, as_json: bool) -> None:
    """List sessions with their state and unresolved counts."""
    from recon_tui.services import sessions

    conn = c.store().connection()
    rows = []
    for s in sessions.list_sessions(conn):
        open_items = len(sessions.unresolved(conn, s)) if s.state == "open" else 0
        rows.append({"id": s.id, "name": s.name, "state": s.state, "owner": s.owner,
                     "pairs": s.scope.pair_names, "start": sessions.iso(s.scope.start_us),
                     "end": sessions.iso(s.scope.end_us), "opened": sessions.iso(s.opened_us),
                     "closed": sessions.iso(s.closed_us), "unresolved": open_items})  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No sessions yet ('recon-tui session open --pair P --from D --to D').")
    for r in rows:
        todo = f"  {r['unresolved']:,} unresolved" if r["state"] == "open" else ""
        click.echo(f"{r['id']:>4}  {r['state']:<6}  {r['name']:<32}  {', '.join(r['pairs'])}  "
                   f"{r['start'][:10]} → {r['end'][:10]}  {r['owner']}{todo}")  # fmt: skip


@session.command("show")
@click.argument("session_id")
@pass_ctx
def session_show(c: Ctx, session_id: str) -> None:
    """A session's scope, balances and unresolved items."""
    from recon_tui.services import sessions

    conn = c.store().connection()
    s = sessions.get_session(conn, session_id)
    click.echo(f"Session {s.id} '{s.name}' — {s.state}, owner {s.owner}")
    click.echo(f"  scope {s.scope.label()} (as of {sessions.iso(s.scope.as_of_us)})")
    for b in sessions.balances(conn, s)["by_pair"]:
        click.echo(f"  {b['pair']:<16} {b['asset']:<6} L {b['left_total']} ({b['left_count']}) "
                   f"R {b['right_total']} ({b['right_count']}) diff {b['difference']} "
                   f"adj {b['adjustments']} unadjusted {b['unadjusted']}")  # fmt: skip
    _echo_accepted(sessions.accepted(conn, s))
    items = sessions.unresolved(conn, s)
    click.echo(f"  {len(items):,} unresolved")
    for r in items[:50]:
        click.echo("    " + r.line())


@session.command("close")
@click.argument("session_id")
@click.option("--note", default=None, help="A closing note.")
@pass_ctx
def session_close(c: Ctx, session_id: str, note: str | None) -> None:
    """Close a session; refused (listing them) while items are unresolved."""
    from recon_tui.services import sessions

    try:
        c.hold("session close")
        s = sessions.close_session(c.store(), session_id, note=note)
    except sessions.CloseRefused as exc:
        for r in exc.unresolved[:20]:
            click.echo("  unresolved " + r.line())
        if len(exc.unresolved) > 20:
            click.echo(f"  … and {len(exc.unresolved) - 20:,} more")
        raise
    close = s.summary.get("close", {})
    click.echo(f"Closed session {s.id} '{s.name}': {close.get('records', 0):,} records.")
    for b in close.get("balances", {}).get("by_asset", []):
        click.echo(f"  {b['asset']:<6} L {b['left_total']} R {b['right_total']} "
                   f"diff {b['difference']} adj {b['adjustments']} "
                   f"unadjusted {b['unadjusted']}")  # fmt: skip
    _echo_accepted(sessions.accepted(c.store().connection(), s))


def _echo_accepted(acc: dict[str, Any]) -> None:
    """The accepted differences of a session: matched groups with a fee, FX, rounding or a
    write-off, per asset (exact) and reason."""
    click.echo(f"  accepted differences: {acc['groups']:,} matched group(s)")
    for a in acc["by_asset"]:
        reasons = ", ".join(f"{r['reason']} {r['groups']:,} = {r['amount']}"
                            for r in a["by_reason"])  # fmt: skip
        click.echo(f"    {a['asset']:<6} {a['groups']:,} group(s) {a['amount']} ({reasons})")


@session.command("reopen")
@click.argument("session_id")
@click.option("--reason", required=True, help="Why the closed session is reopened.")
@pass_ctx
def session_reopen(c: Ctx, session_id: str, reason: str) -> None:
    """Reopen a closed session (recorded, with the reason, in the audit trail)."""
    from recon_tui.services import sessions

    c.hold("session reopen")
    s = sessions.reopen_session(c.store(), session_id, reason)
    click.echo(f"Reopened session {s.id} '{s.name}'.")


@cli.command()
@click.argument("session", required=False)
@click.option("--decrypt", "decrypt_path", type=click.Path(path_type=Path), default=None,
              help="Open an encrypted export bundle instead (with --out DIR).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write (a new folder, .zip or bundle; a directory gets one inside).")
@click.option("--zip", "zip_archive", is_flag=True, help="Write a zip archive.")
@click.option("--encrypt", is_flag=True,
              help="Write an encrypted bundle (passphrase from RECON_TUI_EXPORT_PASSPHRASE "
                   "or a prompt).")
@click.option("--force", is_flag=True, help="Export a session that is not closed, as a draft.")
@pass_ctx
def export(c: Ctx, session: str | None, decrypt_path: Path | None, out: Path | None,
           zip_archive: bool, encrypt: bool, force: bool) -> None:  # fmt: skip
    """Export a closed reconciliation SESSION (or --decrypt a bundle)."""
    from recon_tui.services import export as export_service
    from recon_tui.services.sessions import SessionError
    from recon_tui.store import keys

    def passphrase(confirm: bool) -> str:
        try:
            return keys.ask_passphrase("Export passphrase: ", env=export_service.PASSPHRASE_ENV,
                                       confirm=confirm)  # fmt: skip
        except Exception as exc:  # KeyUnavailable: no terminal and no env
            raise export_service.ExportError(str(exc)) from None

    if decrypt_path is not None:
        if session is not None or encrypt or zip_archive or force:
            raise click.UsageError("--decrypt takes only a bundle and --out")
        if out is None:
            raise click.UsageError("--decrypt needs --out DIR (a new folder)")
        path = export_service.open_bundle(decrypt_path, out, passphrase(confirm=False))
        bad = export_service.check_manifest(path)
        if bad:
            raise export_service.ExportError(
                f"opened into {path}, but {', '.join(bad)} do not match the manifest")
        n = len(json.loads((path / "manifest.json").read_text("utf-8"))["files"])
        click.echo(f"Opened {decrypt_path} into {path} ({n + 1} files, manifest checks out).")
        return
    if session is None:
        raise click.UsageError("give a SESSION id (see 'recon-tui session list') or --decrypt")
    secret = passphrase(confirm=True) if encrypt else None
    try:
        result = export_service.export_session(c.store(), session, out, zip_archive=zip_archive,
                                               encrypt=encrypt, passphrase=secret, force=force)  # fmt: skip
    except export_service.ExportRefused as exc:
        for r in exc.unresolved[:20]:
            click.echo("  unresolved " + r.line())
        if len(exc.unresolved) > 20:
            click.echo(f"  … and {len(exc.unresolved) - 20:,} more")
        raise
    except SessionError as exc:
        raise export_service.ExportError(str(exc)) from None
    click.echo(result.line())


from recon_tui.cli_service import register as _register_service  # noqa: E402 - needs cli

_register_service(cli)  # serve, schedule, token, runs, webhook


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, crash reports instead of tracebacks."""
    import os

    try:  # a Ctrl+C while these load is still "Interrupted.", never a traceback
        from adapters.base import SourceError
        from adapters.redact import redact
        from recon_tui.model import ValidationError
        from recon_tui.store.errors import sqlite_line
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)

    os.umask(0o077)  # everything we write (store, key info, exports, reports) is owner-only
    try:
        cli.main(args=argv, prog_name="recon-tui", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (StoreError, SourceError, ValidationError, ValueError, OSError) as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        known = sqlite_line(exc) if type(exc).__module__.startswith("sqlcipher3") else None
        if known is not None:  # a busy store, a full disk: the user's to fix, not a crash
            click.echo(f"error: {known}", err=True)
            sys.exit(1)
        if isinstance(exc, MemoryError):
            click.echo("error: out of memory (the input is too large for this machine)",
                       err=True)  # fmt: skip
            sys.exit(1)
        report = write_crash_report(exc)
        click.echo(
            f"error: unexpected {type(exc).__name__}; a crash report was written to {report}",
            err=True,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
