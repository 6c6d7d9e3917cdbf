"""The commands that ship a site: publish, deploy, rollback, k8s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from deployer.cli import report
from deployer.cli.options import (
    Out,
    build_options,
    load,
    publish_settings,
    registry_options,
    reported,
    site_argument,
)
from deployer.commands.deploy import DeploySettings
from deployer.commands.deploy import deploy as run_deploy
from deployer.commands.publish import publish as run_publish
from deployer.engine import connect
from deployer.errors import ConfigError
from deployer.progress import Progress
from deployer.ship.k8s import k8s_yaml
from deployer.ship.swarm import remove_swarm, rollback_swarm, swarm_status


@click.command()
@site_argument
@registry_options
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Tag to push (repeatable). Default: the content hash (and git-<commit> in a clean "
    "git checkout); `latest` only when asked.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be pushed where; push nothing.")
@build_options
@reported
def publish(
    site: Path,
    out: Out,
    registry: str | None,
    repository: str | None,
    tags: tuple[str, ...],
    username: str | None,
    password_stdin: bool,
    dry_run: bool,
    **options: Any,
) -> None:
    """Push SITE's nginx image (the one `up` previews) to a registry, then verify it there.

    Every tag is pushed with per-layer progress; transient failures are retried a few
    times. Afterwards the registry's own API must report the pushed digest for every tag
    and hold every layer. A password is never taken from the command line.
    """
    folder, config = load(site, registry=registry, repository=repository, **options)
    settings = publish_settings(config, username, password_stdin, tags=tags, dry_run=dry_run)
    result = run_publish(connect(), folder, config, out.progress, settings)
    report.show_publish(out.progress, result)
    out.emit({"ok": True, **result.as_dict()})


@click.command()
@site_argument
@click.option("--swarm", is_flag=True, help="Deploy on the Docker Swarm the daemon manages.")
@click.option("--replicas", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Port published (host mode) on every node.",
)
@click.option("--status", "show_status", is_flag=True, help="Show replicas, digests and health.")
@click.option("--remove", is_flag=True, help="Remove the deploy (services, config, network).")
@registry_options
@build_options
@reported
def deploy(
    site: Path,
    out: Out,
    swarm: bool,
    replicas: int,
    port: int,
    show_status: bool,
    remove: bool,
    registry: str | None,
    repository: str | None,
    username: str | None,
    password_stdin: bool,
    **options: Any,
) -> None:
    """Deploy SITE's published image on an orchestrator (Docker Swarm).

    Publishes (or reuses) the image, then creates or updates a swarm service pinned to its
    digest: hardened like the preview, rolled one task at a time with the new task started
    first, rolled back by the swarm if it fails its health check. A front service owns the
    port in host mode, so the routing mesh is not needed. For Kubernetes see `sitedeploy k8s`.
    """
    if not swarm:
        raise ConfigError(
            "deploy needs --swarm (the one engine it drives); for Kubernetes "
            "manifests use `sitedeploy k8s`."
        )
    folder, config = load(site, registry=registry, repository=repository, **options)
    engine = connect()
    if remove and not show_status:
        removed = remove_swarm(engine, folder)
        out.progress.info(f"Removed {', '.join(removed) or 'nothing'}.")
        out.emit({"ok": True, "removed": removed})
        return
    if show_status:
        state = swarm_status(engine, folder)
    else:
        publishing = publish_settings(config, username, password_stdin)
        settings = DeploySettings(publishing, replicas=replicas, port=port)
        state = run_deploy(engine, folder, config, out.progress, settings).status
    report.show_swarm(out.progress, state)
    out.emit({"ok": True, **state.as_dict()})


@click.command()
@site_argument
@reported
def rollback(site: Path, out: Out) -> None:
    """Roll SITE's swarm deploy back to the version it ran before (rolling, new task first)."""
    folder, _config = load(site)
    engine = connect()
    result = rollback_swarm(engine, folder, out.progress)
    state = swarm_status(engine, folder)
    report.show_swarm(out.progress, state)
    out.emit({"ok": True, "seconds": round(result.seconds, 2), **state.as_dict()})


@click.command()
@site_argument
@click.option(
    "--image",
    required=True,
    help="The published image: REPOSITORY@sha256:… (or a tag pushed from here).",
)
@click.option("--replicas", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--host", help="Also write an Ingress for this host name.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to a file instead of stdout.",
)
def k8s(site: Path, image: str, replicas: int, host: str | None, output: Path | None) -> None:
    """Write Kubernetes manifests (Deployment, Service, optional Ingress) for SITE's image.

    The Deployment is pinned to the image digest and hardened like the preview
    (runAsNonRoot, readOnlyRootFilesystem, all capabilities dropped), probes nginx's health
    location, and never drops capacity during a rollout (maxUnavailable 0).
    """
    text = k8s_yaml(load(site)[0], image, replicas=replicas, host=host)
    if output:
        output.write_text(text)
        Progress().success(f"Wrote {output}.")
    else:
        click.echo(text, nl=False)
