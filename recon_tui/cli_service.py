"""The service's commands: ``serve``, ``schedule``, ``token``, ``runs`` and ``webhook``
(registered into the ``recon-tui`` group by :func:`register`), and the scheduler loop that
``sync --every`` is a thin use of."""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from recon_tui.cli import Ctx

# ``click.pass_obj``, not the CLI's typed decorator: under ``python -m recon_tui.cli`` the
# CLI module is ``__main__`` and its Ctx class is not the one this module would import.
pass_ctx = click.pass_obj


def parse_duration(text: str) -> int:
    from recon_tui.cli import parse_duration as parse

    return parse(text)

DEFAULT_PORT = 8787


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # Listening now (not only once uvicorn starts) lets early clients queue, not be refused.
    sock.listen(2048)
    return sock


@click.command()
@click.option("--host", default=None,
              help="Address to listen on (default 127.0.0.1; anything else needs TLS or "
                   "is served with a warning).")  # fmt: skip
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int,
              help="Port (0 picks a free one and prints it).")  # fmt: skip
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON-lines log (default: service.jsonl in your log directory).")  # fmt: skip
@click.option("--reload-every", default=5.0, show_default=True, hidden=True)
@pass_ctx
def serve(c: Ctx, host: str | None, port: int, tls_cert: Path | None, tls_key: Path | None,
          log_file: Path | None, reload_every: float) -> None:  # fmt: skip
    """Run the headless service: scheduled sync and match, and the REST API (/docs)."""
    import logging

    import uvicorn

    from recon_tui.api.app import create_app
    from recon_tui.services import service_log, tokens
    from recon_tui.services.headless import Options, Runtime

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key, or neither")
    store = c.store()
    if tokens.active_count(store) == 0:
        raise click.ClickException(
            "no API token yet: create one first with 'recon-tui token create NAME --role read'"
        )
    explicit = host is not None
    host = host or "127.0.0.1"
    path = service_log.configure(log_file)
    log = logging.getLogger("recon_tui.service")
    if not _loopback(host) and tls_cert is None:
        warning = (f"warning: serving {host} without TLS: tokens and data cross the network "
                   "in clear text (give --tls-cert/--tls-key)")  # fmt: skip
        click.echo(warning, err=True)
        log.warning(warning)
    assert explicit or _loopback(host)
    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    runtime = Runtime(store, Options(reload_every=reload_every))
    app = create_app(runtime)
    config = uvicorn.Config(
        app, log_config=None, access_log=True, lifespan="on",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None, timeout_graceful_shutdown=10,
    )  # fmt: skip
    server = uvicorn.Server(config)
    scheme = "https" if tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"recon-tui service on {scheme}://{shown}:{actual} (API docs at /docs); "
               f"log {path}", err=False)  # fmt: skip
    sys.stdout.flush()
    log.info("listening", extra={"host": host, "port": actual, "tls": tls_cert is not None})
    # uvicorn re-raises the signal that stopped it once it is done; by then the lifespan
    # has stopped the runtime, so the re-raised SIGTERM only has to end the process quietly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run(sockets=[sock])
    if not server.started:
        raise click.ClickException(f"the service did not start (see {path})")


# --- the scheduler loop of ``sync --every`` ---------------------------------------------------


def sync_every(c: Ctx, sources: tuple[str, ...], interval_s: int, match: bool) -> None:
    """``sync --every``: sync once now, then let the service's scheduler fire each source at
    its own interval (``interval_s`` for those without one) until Ctrl+C or SIGTERM."""
    from recon_tui.services.scheduler import ServiceScheduler

    store = c.store()
    sched = ServiceScheduler(store, default_interval_s=interval_s, sources=sources or None,
                             matches=False, match_after_sync=match, origin="cli", workers=2,
                             on_report=lambda r: click.echo(r.line()))  # fmt: skip
    from recon_tui.services.sync import sync_all

    names = list(sources) or None
    first = sync_all(store, names)
    for r in first:
        click.echo(r.line())
    if match:
        sched.match_changed([i for r in first for i in r.changed_ids])
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sched.start()
    click.echo(f"scheduled: {', '.join(j['job'] for j in sched.jobs()) or 'nothing'}; "
               "Ctrl+C stops")  # fmt: skip
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sched.stop(wait=True)
        signal.signal(signal.SIGTERM, previous)


# --- schedule ---------------------------------------------------------------------------------


@click.group()
def schedule() -> None:
    """The service's schedule: sync:<source> and match:<pair> jobs."""


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def schedule_list(c: Ctx, as_json: bool) -> None:
    """Every job with when it runs ('default' where no row overrides it)."""
    from recon_tui.services.scheduler import effective_schedule

    entries = effective_schedule(c.store())
    if as_json:
        click.echo(json.dumps([{"job": e.job, "kind": e.kind, "target": e.target,
                                "interval_s": e.interval_s, "cron": e.cron, "full": e.full,
                                "enabled": e.enabled, "default": e.default}
                               for e in entries], indent=2))  # fmt: skip
        return
    if not entries:
        click.echo("No jobs (add sources and pairs first).")
    for e in entries:
        extra = " full" if e.kind == "match" and e.full else ""
        click.echo(f"{e.job:<32} {e.when():<24}{extra}{'  (default)' if e.default else ''}")


@schedule.command("set")
@click.argument("job")
@click.option("--every", default=None, help="An interval, e.g. 5m.")
@click.option("--cron", default=None, help="A crontab expression (UTC), e.g. '0 2 * * *'.")
@click.option("--full/--incremental", default=None, help="match jobs: full or incremental.")
@click.option("--off", is_flag=True, help="Turn the job off.")
@pass_ctx
def schedule_set(c: Ctx, job: str, every: str | None, cron: str | None, full: bool | None,
                 off: bool) -> None:  # fmt: skip
    """Set JOB (sync:<source> or match:<pair>) to run --every N or on a --cron."""
    from recon_tui.services.scheduler import ScheduleError, set_entry

    try:
        e = set_entry(c.store(), job, interval_s=parse_duration(every) if every else None,
                      cron=cron, full=full, enabled=not off)  # fmt: skip
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{e.job}: {e.when()}")


@schedule.command("remove")
@click.argument("job")
@pass_ctx
def schedule_remove(c: Ctx, job: str) -> None:
    """Forget JOB's row: it goes back to its default."""
    from recon_tui.services.scheduler import ScheduleError, remove_entry

    try:
        gone = remove_entry(c.store(), job)
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{job}: back to its default" if gone else f"{job} had no row of its own")


# --- tokens -----------------------------------------------------------------------------------


@click.group()
def token() -> None:
    """API bearer tokens (stored hashed; shown once)."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["read", "operator"]), required=True)
@pass_ctx
def token_create(c: Ctx, name: str, role: str) -> None:
    """Create a token NAME; it is printed once and cannot be shown again."""
    from recon_tui.services.tokens import create_token

    t = create_token(c.store(), name, role)
    click.echo(f"Token '{t.name}' ({t.role}) created. Keep it now; it is not shown again:",
               err=True)  # fmt: skip
    click.echo(t.token)


@token.command("list")
@pass_ctx
def token_list(c: Ctx) -> None:
    """Tokens with their role, creation and last use (never the token)."""
    from recon_tui.services.overview import iso
    from recon_tui.services.tokens import list_tokens

    rows = list_tokens(c.store())
    if not rows:
        click.echo("No tokens ('recon-tui token create NAME --role read').")
    for t in rows:
        state = "revoked " + (iso(t.revoked_us) or "")[:19] if t.revoked_us else "active"
        used = (iso(t.last_used_us) or "")[:19] if t.last_used_us else "never used"
        click.echo(f"{t.name:<20} {t.role:<9} {t.prefix}…  {state:<28} last used {used}")


@token.command("revoke")
@click.argument("name")
@pass_ctx
def token_revoke(c: Ctx, name: str) -> None:
    """Revoke token NAME (takes effect on the service's next request)."""
    from recon_tui.services.tokens import revoke_token

    revoke_token(c.store(), name)
    click.echo(f"Token '{name}' revoked.")


# --- runs -------------------------------------------------------------------------------------


@click.command("runs")
@click.option("--kind", type=click.Choice(["sync", "match", "export", "verify"]), default=None)
@click.option("--outcome", type=click.Choice(["running", "ok", "failed", "interrupted"]),
              default=None)  # fmt: skip
@click.option("--scope", default=None, help="A source, pair or session:<id>.")
@click.option("--origin", default=None, help="cli, app, service or api.")
@click.option("--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def runs_cmd(c: Ctx, kind: str | None, outcome: str | None, scope: str | None,
             origin: str | None, limit: int, as_json: bool) -> None:  # fmt: skip
    """Run history: every sync, match, export and verify, newest first."""
    from recon_tui.services.overview import list_runs

    rows = list_runs(c.store(), kind=kind, outcome=outcome, scope=scope, origin=origin,
                     limit=limit)  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No runs yet.")
    for r in rows:
        secs = f"{r['seconds']:.1f}s" if r["seconds"] is not None else "…"
        counts = " ".join(f"{k}={v}" for k, v in sorted(r["counts"].items()))
        click.echo(f"{r['id']:>6} {r['started'][:19]} {r['kind']:<6} {r['scope']!s:<20} "
                   f"{r['outcome']:<11} {secs:>7} {r['origin']}/{r['started_by']}  {counts}")  # fmt: skip
        if r["error"]:
            click.echo(f"{'':>7}error: {r['error']}")


# --- webhooks ---------------------------------------------------------------------------------


@click.group()
def webhook() -> None:
    """Signed webhook events: run.finished, run.failed, breaks.aging."""


@webhook.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              type=click.Choice(["run.finished", "run.failed", "breaks.aging"]))  # fmt: skip
@click.option("--aging-days", type=int, default=None, help="breaks.aging: older than N days.")
@click.option("--aging-threshold", type=int, default=None, help="breaks.aging: how many.")
@pass_ctx
def webhook_add(c: Ctx, url: str, events: tuple[str, ...], aging_days: int | None,
                aging_threshold: int | None) -> None:  # fmt: skip
    """Send EVENTs to URL; prints the signing secret once."""
    from recon_tui.services.webhooks import SIGNATURE_HEADER, add_webhook

    hid, secret = add_webhook(c.store(), url, list(events), aging_days=aging_days,
                              aging_threshold=aging_threshold)  # fmt: skip
    click.echo(f"Webhook {hid} added; {SIGNATURE_HEADER} signs each body with this secret "
               "(shown once):", err=True)  # fmt: skip
    click.echo(secret)


@webhook.command("list")
@pass_ctx
def webhook_list(c: Ctx) -> None:
    from recon_tui.store import webhooks as hooks_store

    for h in hooks_store.list_hooks(c.store().connection()):
        aging = f" aging>{h.aging_days}d x{h.aging_threshold}" if h.aging_days else ""
        click.echo(f"{h.id:>4} {h.url}  {', '.join(h.events)}{aging}")


@webhook.command("remove")
@click.argument("hook_id", type=int)
@pass_ctx
def webhook_remove(c: Ctx, hook_id: int) -> None:
    from recon_tui.store import webhooks as hooks_store

    if not hooks_store.remove(c.store(), hook_id):
        raise click.ClickException(f"no webhook {hook_id}")
    click.echo(f"Webhook {hook_id} removed.")


@webhook.command("deliveries")
@click.option("--hook", "hook_id", type=int, default=None)
@click.option("--limit", default=30, show_default=True)
@pass_ctx
def webhook_deliveries(c: Ctx, hook_id: int | None, limit: int) -> None:
    """The newest deliveries with their outcome and attempts."""
    from recon_tui.services.overview import iso
    from recon_tui.store import webhooks as hooks_store

    for d in hooks_store.deliveries(c.store().connection(), hook_id, limit):
        click.echo(f"{d['id']:>6} {(iso(d['at_us']) or '')[:19]} hook {d['webhook_id']} "
                   f"{d['event']:<13} {d['outcome']:<9} attempts {d['attempts']} "
                   f"status {d['status']}{'  ' + d['error'] if d['error'] else ''}")  # fmt: skip


def register(group: Any) -> None:
    for cmd in (serve, schedule, token, runs_cmd, webhook):
        group.add_command(cmd)
