"""The `sitedeploy` command line: parse options, call one function, print the result.

Nothing here talks to Docker directly; each command hands its options to the module that
does the work (build, up, preview, report, new).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
from rich.markup import escape

from deployer import __version__
from deployer.build.images import build_site
from deployer.check.served import check_preview, check_url
from deployer.config import BuildEngine, SiteConfig, load_config
from deployer.engine import Engine, connect
from deployer.errors import ConfigError, SitedeployError, SwarmError
from deployer.new import new_site
from deployer.progress import Progress
from deployer.provenance.inspect import inspect_image, verify_site
from deployer.provenance.sbom import cyclonedx
from deployer.report import (
    build_summary,
    image_layers,
    show_build,
    show_check,
    show_inspection,
    show_publish,
    show_swarm,
    show_up,
    show_verification,
    up_summary,
)
from deployer.serve.preview import preview_logs, preview_status, preview_url, stop_preview
from deployer.serve.up import up as run_up
from deployer.serve.watch import watch as watch_folder
from deployer.ship.k8s import manifests, render_yaml
from deployer.ship.publish import pin_image
from deployer.ship.publish import publish as run_publish
from deployer.ship.registry import registry_credentials
from deployer.ship.swarm import deploy_swarm, remove_swarm, rollback_swarm, swarm_status
from deployer.site import Site, open_site

F = TypeVar("F", bound=Callable[..., Any])


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Options declared once and shared by several commands."""

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


_output_options = _options(
    click.option("-v", "--verbose", is_flag=True, help="Show every line the engine prints."),
    click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors."),
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object on stdout (human output goes to stderr).",
    ),
)

_site_argument = click.argument(
    "site", type=click.Path(path_type=Path, file_okay=False), default=".", required=False
)

_build_options = _options(
    click.option("--builder-image", help="Base image of the Jekyll stage [debian:bookworm-slim]."),
    click.option("--nginx-image", help="Base image nginx is taken from [debian:bookworm-slim]."),
    click.option(
        "--engine",
        type=click.Choice([e.value for e in BuildEngine]),
        help="Build with BuildKit (docker CLI) or the classic builder (Docker SDK) [auto].",
    ),
    click.option(
        "--jekyll-config",
        help="Jekyll config files, comma-separated, relative to SITE [_config.yml].",
    ),
)

_preview_options = _options(
    click.option("--host", help="Host address the preview is published on [127.0.0.1]."),
    click.option("--port", type=int, help="Host port of the preview [8080]."),
)


def _emit(as_json: bool, data: dict[str, Any]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))


def _json_errors(command: F) -> F:
    """With --json, a failure is also one JSON object on stdout: {"ok": false, "error": …}."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SitedeployError as error:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"ok": False, "error": error.format_message()}, indent=2))
            raise

    return wrapper  # type: ignore[return-value]


def _load(site_path: Path, **overrides: Any) -> tuple[Site, SiteConfig]:
    jekyll_config = overrides.pop("jekyll_config", None)
    if jekyll_config is not None:
        overrides["jekyll_config"] = [
            name.strip() for name in jekyll_config.split(",") if name.strip()
        ]
    folder = site_path.expanduser().resolve()
    config = load_config(folder, overrides) if folder.is_dir() else SiteConfig()
    return open_site(site_path, config.name), config


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sitedeploy")
def main() -> None:
    """Turn a Jekyll site into a small, hardened nginx container image and run it.

    SITE is a Jekyll site folder (one with _config.yml); it defaults to the current folder.
    Settings come from SITE/sitedeploy.toml and are overridden by flags.
    """


@main.command()
@click.argument("destination", type=click.Path(path_type=Path))
def new(destination: Path) -> None:
    """Create a new site in DESTINATION from the starter template (never overwrites)."""
    created = new_site(destination)
    click.echo(f"Created {created}. Next: sitedeploy up {created}", err=True)


@main.command()
@_site_argument
@_build_options
@_preview_options
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: redeploy (without downtime) whenever a file in SITE changes.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on the site's own defects too (dead links, bad fragments), not only on a "
    "broken deployment.",
)
@_output_options
@_json_errors
def up(
    site: Path,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    watch: bool,
    strict: bool,
    **options: Any,
) -> None:
    """Build SITE, start its preview, check every file over HTTP, report.

    Returns once the preview is healthy and leaves it running. Running it again moves the
    port to the new version only after that version passed its check, so the preview never
    stops answering; a failed build or check leaves the running version serving. Exits
    non-zero if anything failed. With --watch it keeps redeploying on every save (with
    --json, one JSON object per deploy) until Ctrl-C, which leaves the preview running.
    """
    progress = Progress(quiet=quiet, verbose=verbose)
    folder, config = _load(site, **options)
    engine = connect()

    def deploy(changed_at: float | None = None) -> None:
        result = run_up(engine, folder, config, progress, strict=strict)
        summary = up_summary(result, image_layers(engine, result.images.image.tag))
        for warning in summary["warnings"]:
            progress.warning(_warning_text(warning))
        show_up(progress, summary)
        if changed_at is not None:
            summary["edit_to_served_seconds"] = round(time.monotonic() - changed_at, 2)
            progress.info(
                f"Serving the change {summary['edit_to_served_seconds']:.1f} s after it was saved."
            )
        if as_json:
            click.echo(json.dumps({"ok": True, **summary}, sort_keys=True))

    if not watch:
        deploy()
        return
    try:
        deploy()
    except SitedeployError as error:
        _report_while_watching(progress, error)
    try:
        watch_folder(
            folder,
            deploy,
            lambda error: _report_while_watching(progress, error),
            lambda: progress.info(f"Watching {folder.path} for changes; Ctrl-C stops watching."),
        )
    except KeyboardInterrupt:
        url = preview_url(config.host, config.port)
        progress.info(
            f"Stopped watching. The preview keeps running at {url}; "
            f"`sitedeploy down {site}` stops it."
        )


def _report_while_watching(progress: Progress, error: SitedeployError) -> None:
    progress.console.print(f"[red]Error:[/red] {escape(error.format_message())}")
    progress.info("The last good version keeps serving; save a fix to redeploy.")


def _warning_text(warning: dict[str, Any]) -> str:
    if warning.get("kind") == "build":
        return str(warning["detail"])
    referrer = f" (from {warning['referrer']})" if warning.get("referrer") else ""
    return f"{warning['kind']}: {warning['url']}{referrer}: {warning['detail']}"


def _build(
    engine: Engine, site: Path, options: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    folder, config = _load(site, **options)
    images = build_site(engine, folder, config, progress)
    return build_summary(images, images.built.total_bytes, image_layers(engine, images.image.tag))


@main.command()
@_site_argument
@_build_options
@click.option("--print-dockerfile", is_flag=True, help="Also print the rendered Dockerfile.")
@_output_options
@_json_errors
def build(
    site: Path, as_json: bool, quiet: bool, verbose: bool, print_dockerfile: bool, **options: Any
) -> None:
    """Build SITE's images (the Jekyll builder and the final nginx image) without running them."""
    progress = Progress(quiet=quiet, verbose=verbose)
    summary = _build(connect(), site, options, progress)
    for warning in summary["warnings"]:
        progress.warning(warning)
    show_build(progress, summary)
    if print_dockerfile:
        click.echo(summary["dockerfile"], err=as_json)
    _emit(as_json, {"ok": True, **summary})


@main.command()
@_site_argument
@_build_options
@_output_options
@_json_errors
def report(site: Path, as_json: bool, quiet: bool, verbose: bool, **options: Any) -> None:
    """Show where SITE's image bytes come from: sizes, ratio, and every layer.

    Builds first if the site changed since the last build (reusing it otherwise).
    """
    progress = Progress(quiet=quiet, verbose=verbose)
    summary = _build(connect(), site, options, progress)
    show_build(progress, summary, show_layers=True)
    _emit(as_json, {"ok": True, **summary})


@main.command()
@_site_argument
@click.option("--url", help="Check the site served at URL (e.g. a deploy) instead of the preview.")
@click.option("--external", is_flag=True, help="Also fetch external links (short timeout).")
@click.option("--browser", is_flag=True, help="Also open every page in headless Chromium.")
@_output_options
@_json_errors
def check(
    site: Path,
    url: str | None,
    external: bool,
    browser: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Prove the served site works: every file, link, fragment, feed and sitemap entry.

    Without --url it checks SITE's running preview against the _site its image was built
    from; with --url, any served copy against SITE's current build. Exits 1 when there are
    errors (warnings do not fail).
    """
    progress = Progress(quiet=quiet, verbose=verbose)
    folder, config = _load(site)
    engine = connect()
    if url:
        report = check_url(
            engine, folder, config, url, progress, external=external, browser=browser
        )
    else:
        report = check_preview(engine, folder, progress, external=external, browser=browser)
    show_check(progress, report)
    _emit(as_json, {"ok": report.healthy, **report.as_dict()})
    if not report.healthy:
        sys.exit(1)


@main.command()
@_site_argument
@click.option("--registry", help="Registry HOST[:PORT], e.g. localhost:5000 [publish.registry].")
@click.option(
    "--repository", help="Repository in the registry, e.g. team/blog [publish.repository]."
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Tag to push (repeatable). Default: the content hash (and git-<commit> in a clean "
    "git checkout); `latest` only when asked.",
)
@click.option("--username", help="Registry user (or SITEDEPLOY_REGISTRY_USERNAME).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the registry password from stdin (or set SITEDEPLOY_REGISTRY_PASSWORD; "
    "or `docker login` beforehand).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be pushed where; push nothing.")
@_build_options
@_output_options
@_json_errors
def publish(
    site: Path,
    registry: str | None,
    repository: str | None,
    tags: tuple[str, ...],
    username: str | None,
    password_stdin: bool,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    **options: Any,
) -> None:
    """Push SITE's nginx image (the one `up` previews) to a registry, then verify it there.

    Every tag is pushed with per-layer progress; transient failures are retried a few
    times. Afterwards the registry's own API must report the pushed digest for every tag
    and hold every layer. A password is never taken from the command line.
    """
    progress = Progress(quiet=quiet, verbose=verbose)
    folder, config = _load(site, registry=registry, repository=repository, **options)
    if not config.registry or not config.repository:
        raise ConfigError(
            "publish needs --registry and --repository (or [publish] registry and repository "
            "in sitedeploy.toml)."
        )
    credentials = registry_credentials(config.registry, username, password_stdin)
    result = run_publish(
        connect(),
        folder,
        config,
        progress,
        registry=config.registry,
        repository=config.repository,
        tags=list(tags),
        credentials=credentials,
        dry_run=dry_run,
    )
    show_publish(progress, result)
    _emit(as_json, {"ok": True, **result.as_dict()})


_registry_options = _options(
    click.option("--registry", help="Registry HOST[:PORT] [publish.registry]."),
    click.option("--repository", help="Repository in the registry [publish.repository]."),
    click.option("--username", help="Registry user (or SITEDEPLOY_REGISTRY_USERNAME)."),
    click.option("--password-stdin", is_flag=True, help="Read the registry password from stdin."),
)


@main.command()
@_site_argument
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
@_registry_options
@_build_options
@_output_options
@_json_errors
def deploy(
    site: Path,
    swarm: bool,
    replicas: int,
    port: int,
    show_status: bool,
    remove: bool,
    registry: str | None,
    repository: str | None,
    username: str | None,
    password_stdin: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    **options: Any,
) -> None:
    """Deploy SITE's published image on an orchestrator (Docker Swarm).

    Publishes (or reuses) the image, then creates or updates a swarm service pinned to its
    digest: hardened like the preview, rolled one task at a time with the new task started
    first, rolled back by the swarm if it fails its health check. A front service owns the
    port in host mode, so the routing mesh is not needed. For Kubernetes see `sitedeploy k8s`.
    """
    if not swarm:
        raise ConfigError("deploy needs --swarm (the one engine it drives); for Kubernetes "
                          "manifests use `sitedeploy k8s`.")  # fmt: skip
    progress = Progress(quiet=quiet, verbose=verbose)
    folder, config = _load(site, registry=registry, repository=repository, **options)
    engine = connect()
    if show_status:
        state = swarm_status(engine, folder)
        show_swarm(progress, state)
        _emit(as_json, {"ok": True, **state.as_dict()})
        return
    if remove:
        removed = remove_swarm(engine, folder)
        progress.info(f"Removed {', '.join(removed) or 'nothing'}.")
        _emit(as_json, {"ok": True, "removed": removed})
        return
    if not config.registry or not config.repository:
        raise ConfigError("deploy --swarm needs --registry and --repository (or [publish] in "
                          "sitedeploy.toml): every node pulls the image from there.")  # fmt: skip
    published = run_publish(
        engine, folder, config, progress,
        registry=config.registry, repository=config.repository, tags=[],
        credentials=registry_credentials(config.registry, username, password_stdin),
    )  # fmt: skip
    image = f"{config.registry}/{config.repository}@{published.digest}"
    result = deploy_swarm(engine, folder, image, replicas=replicas, port=port, progress=progress)
    state = swarm_status(engine, folder)
    show_swarm(progress, state)
    _emit(as_json, {"ok": not result.rolled_back, "seconds": round(result.seconds, 2),
                    "rolled_back": result.rolled_back, **state.as_dict()})  # fmt: skip
    if result.rolled_back:
        raise SwarmError(
            f"{image} did not pass its health check, so the swarm rolled back to "
            f"{state.image}; the deploy keeps serving the previous version."
        )


@main.command()
@_site_argument
@_output_options
@_json_errors
def rollback(site: Path, as_json: bool, quiet: bool, verbose: bool) -> None:
    """Roll SITE's swarm deploy back to the version it ran before (rolling, new task first)."""
    progress = Progress(quiet=quiet, verbose=verbose)
    folder, _config = _load(site)
    engine = connect()
    result = rollback_swarm(engine, folder, progress)
    state = swarm_status(engine, folder)
    show_swarm(progress, state)
    _emit(as_json, {"ok": True, "seconds": round(result.seconds, 2), **state.as_dict()})


@main.command()
@_site_argument
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
@_json_errors
def k8s(site: Path, image: str, replicas: int, host: str | None, output: Path | None) -> None:
    """Write Kubernetes manifests (Deployment, Service, optional Ingress) for SITE's image.

    The Deployment is pinned to the image digest and hardened like the preview
    (runAsNonRoot, readOnlyRootFilesystem, all capabilities dropped), probes nginx's health
    location, and never drops capacity during a rollout (maxUnavailable 0).
    """
    folder, _config = _load(site)
    pinned = image if "@sha256:" in image else pin_image(connect(), image)
    text = render_yaml(manifests(folder.name, pinned, replicas=replicas, host=host))
    if output:
        output.write_text(text)
        click.echo(f"Wrote {output}.", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@_site_argument
@click.option("--image", help="Inspect this image (e.g. one pulled from a registry) instead.")
@click.option(
    "--sbom",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the image's bill of materials as CycloneDX JSON to this file.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Rebuild SITE from its current inputs and check the result is byte for byte the same.",
)
@_output_options
@_json_errors
def inspect(
    site: Path,
    image: str | None,
    sbom: Path | None,
    verify: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Show what is in SITE's image and where every byte came from.

    The recipe (the rendered Dockerfile next to the image history), the base images (pulled
    or bootstrapped here), and a bill of materials: every file from a Debian package with
    its version, and the site's own files. It is all read from the image's labels, so
    --image works on an image pulled from a registry, without the site folder.
    """
    progress = Progress(quiet=quiet, verbose=verbose)
    if verify and image:
        raise ConfigError("--verify rebuilds a site: give SITE, not --image.")
    engine = connect()
    loaded: tuple[Site, SiteConfig] | None = None
    if image:
        reference = image
    else:
        loaded = _load(site)
        reference = f"{loaded[0].repository}:latest"
    found = inspect_image(engine, reference)
    show_inspection(progress, found)
    result: dict[str, Any] = {"ok": True, **found.as_dict()}
    if sbom:
        suite = found.labels.get("io.sitedeploy.nginx-base.suite", "bookworm")
        sbom.write_text(cyclonedx(reference, found.image_id, found.labels, suite))
        progress.success(f"Wrote the CycloneDX bill of materials to {sbom}")
    if verify and loaded:
        checked = verify_site(engine, *loaded, progress)
        show_verification(progress, checked)
        result.update(ok=checked.reproduced, verification=checked.as_dict())
    _emit(as_json, result)
    if verify and not result["ok"]:
        sys.exit(1)


@main.command()
@_site_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_json_errors
def status(site: Path, as_json: bool) -> None:
    """Is SITE's preview running, from which image, at which URL, and is it healthy?

    Exits 0 when the preview is running and answering, 3 otherwise.
    """
    folder, _config = _load(site)
    state = preview_status(connect(), folder)
    _emit(as_json, {"site": str(folder.path), **state.as_dict()})
    if not as_json:
        if state.container is None:
            click.echo(f"No preview of {folder.path}. Start one with: sitedeploy up {site}")
        else:
            health = f", image health check: {state.health}" if state.health else ""
            answering = "answering" if state.answering else "NOT answering"
            click.echo(
                f"{state.container}: {state.state}{health}\n"
                f"  url:    {state.url} ({answering})\n"
                f"  server: {state.server or 'none answering'}\n"
                f"  image:  {state.image or '-'}"
            )
    if not (state.state == "running" and state.answering):
        sys.exit(3)


@main.command()
@_site_argument
@click.option("-f", "--follow", is_flag=True, help="Keep printing new log lines.")
@click.option("--tail", default="all", help="Only the last N lines [all].")
def logs(site: Path, follow: bool, tail: str) -> None:
    """Print the nginx logs of SITE's preview container."""
    folder, _config = _load(site)
    lines: int | Literal["all"] = int(tail) if tail.isdigit() else "all"
    for chunk in preview_logs(connect(), folder, follow=follow, tail=lines):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


@main.command()
@_site_argument
def down(site: Path) -> None:
    """Stop and remove SITE's preview containers (images are kept)."""
    folder, _config = _load(site)
    removed = stop_preview(connect(), folder)
    if removed:
        click.echo(f"Stopped and removed {', '.join(removed)}.", err=True)
    else:
        click.echo(f"No preview of {folder.path} was running.", err=True)
