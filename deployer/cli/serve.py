"""The commands of the local preview: new, up, status, logs, down."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any, Literal

import click

from deployer.cli import report
from deployer.cli.live import TARGETS, show_target
from deployer.cli.options import Out, build_options, load, preview_options, reported, site_argument
from deployer.commands.new import new_site
from deployer.commands.up import up as run_up
from deployer.commands.watch import watch_and_deploy
from deployer.engine import connect
from deployer.serve.preview import preview_logs, preview_status, preview_url, stop_preview
from deployer.serve.switch import UpResult


@click.command()
@click.argument("destination", type=click.Path(path_type=Path))
@reported
def new(destination: Path, out: Out) -> None:
    """Create a new site in DESTINATION from the starter template (never overwrites)."""
    created = new_site(destination)
    out.progress.success(f"Created {created}. Next: sitedeploy up {created}")
    out.emit({"ok": True, "site": str(created)})


@click.command()
@site_argument
@build_options
@preview_options
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: redeploy (without downtime) whenever a file in SITE changes; "
    "Enter builds afresh.",
)
@click.option(
    "--hot/--no-hot",
    default=True,
    show_default=True,
    help="With --watch: keep Jekyll warm and serve each save as small layers over the "
    "running image, the edited pages first (a full build every 20 layers, on Enter, and "
    "for config, gem or plugin changes).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on the site's own defects too (dead links, bad fragments), not only on a "
    "broken deployment.",
)
@reported
def up(site: Path, out: Out, watch: bool, hot: bool, strict: bool, **options: Any) -> None:
    """Build SITE, start its preview, check every file over HTTP, report.

    Returns once the preview is healthy and leaves it running. Running it again moves the
    port to the new version only after that version passed its check, so the preview never
    stops answering; a failed build or check leaves the running version serving. Exits
    non-zero if anything failed. With --watch it keeps redeploying on every save (with
    --json, one JSON object per deploy) until Ctrl-C, which leaves the preview running.
    """
    folder, config = load(site, **options)
    engine = connect()
    shown = [preview_url(config.host, config.port)]  # the page the last deploy served

    def deployed(result: UpResult, edit_to_served: float | None = None) -> None:
        shown[0] = result.page_url
        report.show_up(out.progress, result, edit_to_served)
        out.emit({"ok": True, **report.up_summary(result, edit_to_served)}, one_line=True)

    if not watch:
        deployed(run_up(engine, folder, config, out.progress, strict=strict))
        return
    # A closed terminal or a `kill` stops watching as Ctrl-C does: the hot builder goes,
    # the preview stays.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _interrupt)
    try:
        watch_and_deploy(
            engine,
            folder,
            config,
            out.progress,
            strict=strict,
            deployed=deployed,
            failed=lambda error: report.show_watch_error(out.progress, error),
            hot=hot,
        )
    except KeyboardInterrupt:
        out.progress.info(
            f"Stopped watching. The preview keeps running at {shown[0]}; "
            f"`sitedeploy down {site}` stops it."
        )


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


@click.command()
@site_argument
@click.option(
    "--to",
    "deploy_to",
    type=click.Choice(["preview", *TARGETS]),
    default="preview",
    show_default=True,
    help="Which deployment: the local preview, the live one on a server (host), or a swarm.",
)
@click.option(
    "--server",
    "deploy_server",
    help="With --to host: the server's Docker engine [deploy.server, else this machine].",
)
@reported
def status(site: Path, out: Out, deploy_to: str, deploy_server: str | None) -> None:
    """Is SITE running, from which image, at which URL, and is it healthy? The preview by
    default; a live deploy with --to (what runs where: digest, since when, health, the
    version kept for rollback, the front's address).

    Exits 0 when it is running (the preview: and answering), 3 otherwise.
    """
    engine = connect()
    if deploy_to != "preview":
        folder, config = load(site, deploy_to=deploy_to, deploy_server=deploy_server)
        if not show_target(out, engine, folder, config):
            sys.exit(3)
        return
    folder, _config = load(site)
    state = preview_status(engine, folder)
    if not out.as_json:
        click.echo(report.status_text(folder, state))
    out.emit({"ok": True, "site": str(folder.path), **state.as_dict()})
    if not (state.state == "running" and state.answering):
        sys.exit(3)


@click.command()
@site_argument
@click.option("-f", "--follow", is_flag=True, help="Keep printing new log lines.")
@click.option("--tail", default="all", help="Only the last N lines [all].")
@reported
def logs(site: Path, out: Out, follow: bool, tail: str) -> None:
    """Print the nginx logs of SITE's preview container. With --json: one object whose
    "lines" are the log's lines (--follow then prints one such object per line)."""
    lines: int | Literal["all"] = int(tail) if tail.isdigit() else "all"
    chunks = preview_logs(connect(), load(site)[0], follow=follow, tail=lines)
    if not out.as_json:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        return
    if follow:
        for chunk in chunks:
            for line in chunk.decode(errors="replace").splitlines():
                out.emit({"ok": True, "line": line}, one_line=True)
        return
    text = b"".join(chunks).decode(errors="replace")
    out.emit({"ok": True, "lines": text.splitlines()})


@click.command()
@site_argument
@reported
def down(site: Path, out: Out) -> None:
    """Stop and remove SITE's preview containers (images are kept)."""
    folder, _config = load(site)
    removed = stop_preview(connect(), folder)
    if removed:
        out.progress.success(f"Stopped and removed {', '.join(removed)}.")
    else:
        out.progress.info(f"No preview of {folder.path} was running.")
    out.emit({"ok": True, "removed": removed})
