"""What the commands share: options declared once, loading a site, and where output goes."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from deployer.config import BuildEngine, GemsChoice, SiteConfig, load_config
from deployer.errors import SitedeployError
from deployer.progress import Progress
from deployer.ship.publish import PublishSettings
from deployer.ship.registry import registry_credentials
from deployer.site import Site, open_site

F = TypeVar("F", bound=Callable[..., Any])


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Options declared once and shared by several commands."""

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


@dataclass(frozen=True)
class Out:
    """Where a command's results go: people (progress, stderr) and --json (stdout)."""

    progress: Progress
    as_json: bool

    def emit(self, data: dict[str, Any], *, one_line: bool = False) -> None:
        if self.as_json:
            click.echo(json.dumps(data, sort_keys=True, indent=None if one_line else 2))


def reported(command: F) -> F:
    """-v/-q/--json for a command, which gets `out`; with --json a failure is one JSON
    object on stdout too: {"ok": false, "error": …}."""

    @functools.wraps(command)
    def wrapper(*args: Any, verbose: bool, quiet: bool, as_json: bool, **kwargs: Any) -> Any:
        out = Out(Progress(quiet=quiet, verbose=verbose), as_json)
        try:
            return command(*args, out=out, **kwargs)
        except SitedeployError as error:
            if as_json:
                data = {"ok": False, "error": error.format_message(), **error.details()}
                click.echo(json.dumps(data, indent=2, sort_keys=True))
            raise

    return options(
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            help="Show every line the engine prints (`up` names the engine first).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors."),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print one JSON object on stdout (human output goes to stderr).",
        ),
    )(wrapper)  # type: ignore[return-value]


site_argument = click.argument(
    "site", type=click.Path(path_type=Path, file_okay=False), default=".", required=False
)
build_options = options(
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
    click.option(
        "--gems",
        type=click.Choice([g.value for g in GemsChoice]),
        help="Install the site's gems with Bundler from its gem source, or from Debian's "
        "packages (offline); auto: Bundler when the site has a Gemfile and its source "
        "answers [auto].",
    ),
    click.option(
        "--ruby-image", help="Base image of Bundler builds [ruby:<the lock's Ruby>-slim]."
    ),
)
preview_options = options(
    click.option("--host", help="Host address the preview is published on [127.0.0.1]."),
    click.option("--port", type=int, help="Host port of the preview [8080]."),
)
registry_options = options(
    click.option(
        "--registry", help="Registry HOST[:PORT], e.g. localhost:5000 [publish.registry]."
    ),
    click.option(
        "--repository", help="Repository in the registry, e.g. team/blog [publish.repository]."
    ),
    click.option("--username", help="Registry user (or SITEDEPLOY_REGISTRY_USERNAME)."),
    click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the registry password from stdin (or set SITEDEPLOY_REGISTRY_PASSWORD; "
        "or `docker login` beforehand).",
    ),
)


def absolute(path: Path | str | None) -> str | None:
    """A file a flag names, from the current folder (a setting's is from the site's)."""
    return str(Path(path).expanduser().resolve()) if path else None


def load(site_path: Path, **overrides: Any) -> tuple[Site, SiteConfig]:
    jekyll_config = overrides.pop("jekyll_config", None)
    if jekyll_config is not None:
        overrides["jekyll_config"] = [
            name.strip() for name in jekyll_config.split(",") if name.strip()
        ]
    folder = site_path.expanduser().resolve()
    config = load_config(folder, overrides) if folder.is_dir() else SiteConfig()
    return open_site(site_path, config.name), config


def publish_settings(
    config: SiteConfig, username: str | None, password_stdin: bool, **settings: Any
) -> PublishSettings:
    """Where to push comes from `config` (flags are already in it); credentials from here."""
    registry = config.registry
    credentials = registry_credentials(registry, username, password_stdin) if registry else None
    return PublishSettings(credentials=credentials, **settings)
