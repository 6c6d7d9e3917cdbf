"""The commands of a live site, on every target: deploy, rollback, remove (and the status
of a target, which `status --to` shows)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from deployer.cli import report_ship
from deployer.cli.options import (
    Out,
    absolute,
    build_options,
    load,
    options,
    publish_settings,
    registry_options,
    reported,
    site_argument,
)
from deployer.commands.deploy import HOST_PORT, DeploySettings, HostResult, server_engine
from deployer.commands.deploy import deploy as run_deploy
from deployer.config import DeployTarget, SiteConfig
from deployer.engine import Engine, connect
from deployer.ship.host import host_status, remove_host, rollback_host
from deployer.ship.swarm import remove_swarm, rollback_swarm, swarm_status
from deployer.site import Site

TARGETS = [target.value for target in DeployTarget]

target_options = options(
    click.option(
        "--to",
        "deploy_to",
        type=click.Choice(TARGETS),
        help="Where the site is live: a server with Docker (host), or a Docker Swarm "
        "[deploy.to, else host].",
    ),
    click.option(
        "--server",
        "deploy_server",
        help="The server's Docker engine: ssh://user@host[:port] or a docker context name "
        "[deploy.server, else DOCKER_HOST or this machine].",
    ),
)


tls_options = options(
    click.option(
        "--domain",
        "tls_domains",
        multiple=True,
        help="A host name the site answers on over HTTPS; repeat for more [tls.domains].",
    ),
    click.option(
        "--acme-email", "tls_acme_email", help="For the ACME account's notices [tls.acme_email]."
    ),
    click.option(
        "--acme-directory",
        "tls_acme_directory",
        help="The ACME directory's URL [tls.acme_directory, else Let's Encrypt].",
    ),
    click.option(
        "--acme-challenge",
        "tls_acme_challenge",
        type=click.Choice(["http-01", "tls-alpn-01"]),
        help="How the ACME directory checks the names: on port 80, or on the HTTPS port "
        "when 80 is closed [tls.acme_challenge, else http-01].",
    ),
    click.option(
        "--cert", "tls_cert", help="A certificate chain (PEM) to serve instead of ACME [tls.cert]."
    ),
    click.option("--key", "tls_key", help="The private key of --cert (PEM) [tls.key]."),
    click.option(
        "--hsts",
        "tls_hsts",
        help="Strict-Transport-Security: on (180 days), off, preload, or a max-age in "
        "seconds [tls.hsts, else on].",
    ),
    click.option(
        "--https-port",
        "tls_https_port",
        type=int,
        help="The port HTTPS is served on [tls.https_port, else 443].",
    ),
)


def _hsts_flag(value: str) -> object:
    named = {"on": True, "true": True, "off": False, "false": False, "preload": "preload"}
    return int(value) if value.isdigit() else named.get(value.lower(), value)


def tls_flags(settings: dict[str, Any]) -> None:
    """Gather the --domain … --https-port flags into `settings["tls"]` (by [tls] key)."""
    flags = {key[4:]: settings.pop(key) for key in list(settings) if key.startswith("tls_")}
    flags["domains"] = list(flags["domains"]) or None
    for key in ("cert", "key"):
        if flags.get(key):
            flags[key] = absolute(flags[key])
    if flags.get("hsts") is not None:
        flags["hsts"] = _hsts_flag(flags["hsts"])
    settings["tls"] = flags


def _deprecated(out: Out, old: str, new: str) -> None:
    out.progress.warning(f"`{old}` is now `{new}`; the old spelling goes in the next release.")


def _listening(config: SiteConfig) -> SiteConfig:
    """The config with the preview's address replaced by where the live front listens."""
    return replace(config, host=config.deploy_bind, port=config.deploy_port or HOST_PORT)


def show_target(out: Out, engine: Engine, site: Site, config: SiteConfig) -> bool:
    """Show the live site on `config.deploy_to`; True when it is running."""
    if config.deploy_to is DeployTarget.SWARM:
        swarm = swarm_status(engine, site)
        report_ship.show_swarm(out.progress, swarm)
        out.emit({"ok": True, "site": str(site.path), **swarm.as_dict()})
        return swarm.running > 0
    with server_engine(engine, config) as server:
        state = host_status(server, site.live())
    report_ship.show_host(out.progress, state)
    running = state.current is not None
    out.emit({"ok": running, "site": str(site.path), **state.as_dict()})
    return running


@click.command()
@site_argument
@target_options
@click.option(
    "--port",
    "deploy_port",
    type=int,
    help="The port the site is served on [deploy.port, else 80 on a server, 8080 on a swarm].",
)
@click.option(
    "--bind",
    "deploy_bind",
    help="The server's address the site listens on [deploy.bind, else 0.0.0.0: every interface].",
)
@click.option(
    "--replicas", "deploy_replicas", type=int, help="Swarm replicas [deploy.replicas, 3]."
)
@click.option(
    "--strict",
    is_flag=True,
    help="On a server: refuse a version with the site's own defects too (dead links, bad "
    "fragments), not only a broken one.",
)
@click.option(
    "--verify-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Run only an image this public key (cosign.pub) signed: the published digest is "
    "verified before the server pulls it or the swarm rolls [deploy.verify_key].",
)
@tls_options
@click.option("--swarm", is_flag=True, hidden=True)  # deprecated: --to swarm
@click.option("--status", "show_status", is_flag=True, hidden=True)  # deprecated: status --to
@click.option("--remove", is_flag=True, hidden=True)  # deprecated: remove --to
@registry_options
@build_options
@reported
def deploy(
    site: Path,
    out: Out,
    strict: bool,
    swarm: bool,
    show_status: bool,
    remove: bool,
    registry: str | None,
    repository: str | None,
    username: str | None,
    password_stdin: bool,
    **settings: Any,
) -> None:
    """Make SITE live on its target, built here, checked there, without dropping a request.

    On a server with Docker (--to host, the default): this machine, or one reached over
    SSH (--server ssh://user@host). The image goes there through the registry when
    [publish] names one, else over the same SSH connection (only the layers the server
    lacks); the same front and switch as the preview serve it on --bind:--port
    (0.0.0.0:80 unless said), and the version it replaces is kept for `rollback`.
    With [tls] (or --domain/--cert): HTTPS on --https-port (443), HTTP answering ACME's
    challenges and otherwise 301 to https, HSTS; the certificate from ACME (Let's Encrypt
    unless --acme-directory), renewed on the server by itself, or the one given.
    On a Docker Swarm (--to swarm): publish, then a rolling update pinned to the digest,
    new task first, rolled back by the swarm if it fails its health check. For Kubernetes,
    see `sitedeploy k8s`. With --verify-key, only an image that key signed (publish
    --sign) is rolled out, on every target.
    """
    if swarm:
        _deprecated(out, "deploy --swarm", "deploy --to swarm")
        settings["deploy_to"] = DeployTarget.SWARM.value
    tls_flags(settings)
    settings["verify_key"] = absolute(settings.get("verify_key"))
    folder, config = load(site, registry=registry, repository=repository, **settings)
    engine = connect()
    if show_status:
        _deprecated(out, "deploy --status", "status --to …")
        if not show_target(out, engine, folder, config):
            sys.exit(3)
        return
    if remove:
        _deprecated(out, "deploy --remove", "remove --to …")
        _remove(out, engine, folder, config)
        return
    result = run_deploy(
        engine, folder, config, out.progress,
        DeploySettings(publish_settings(config, username, password_stdin), strict=strict),
    )  # fmt: skip
    if isinstance(result, HostResult):
        out.progress.info(f"The image: {result.transfer}.")
        if result.switched is None:
            out.progress.info("The server already serves this version.")
        report_ship.show_host(out.progress, result.status)
    else:
        report_ship.show_swarm(out.progress, result.status)
    out.emit(result.as_dict())


@click.command()
@site_argument
@target_options
@reported
def rollback(site: Path, out: Out, **settings: Any) -> None:
    """Serve the version SITE's live deploy ran before, with the same switch (a server:
    the version the last deploy replaced; a swarm: its previous spec, rolling)."""
    folder, config = load(site, **settings)
    engine = connect()
    if config.deploy_to is DeployTarget.SWARM:
        result = rollback_swarm(engine, folder, out.progress)
        swarm = swarm_status(engine, folder)
        report_ship.show_swarm(out.progress, swarm)
        out.emit({"ok": True, "seconds": round(result.seconds, 2), **swarm.as_dict()})
        return
    with server_engine(engine, config) as server:
        rollback_host(server, folder.live(), _listening(config), out.progress)
        state = host_status(server, folder.live())
    report_ship.show_host(out.progress, state)
    out.emit({"ok": True, **state.as_dict()})


def _remove(out: Out, engine: Engine, site: Site, config: SiteConfig) -> None:
    if config.deploy_to is DeployTarget.SWARM:
        removed = remove_swarm(engine, site)
    else:
        with server_engine(engine, config) as server:
            removed = remove_host(server, site.live())
    out.progress.info(f"Removed {', '.join(removed) or 'nothing'}.")
    out.emit({"ok": True, "removed": removed})


@click.command()
@site_argument
@options(
    click.option(
        "--to",
        "deploy_to",
        type=click.Choice(TARGETS),
        required=True,
        help="Which live deploy to remove: on a server (host) or a swarm. (The preview: "
        "`sitedeploy down`.)",
    ),
    click.option(
        "--server",
        "deploy_server",
        help="The server's Docker engine: ssh://user@host[:port] or a docker context name.",
    ),
)
@reported
def remove(site: Path, out: Out, **settings: Any) -> None:
    """Take SITE's live deploy down: its containers (the front first) and the version kept
    for rollback; images the server uses otherwise stay. --to is required: removing a live
    site is never a default."""
    folder, config = load(site, **settings)
    _remove(out, connect(), folder, config)
