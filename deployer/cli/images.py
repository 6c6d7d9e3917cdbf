"""The commands about a site's images: build, report, inspect."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from deployer.cli import report
from deployer.cli.options import Out, build_options, load, reported, site_argument
from deployer.commands.inspect import InspectSettings
from deployer.commands.inspect import inspect as run_inspect
from deployer.engine import connect
from deployer.image.images import build_site


@click.command()
@site_argument
@build_options
@click.option("--print-dockerfile", is_flag=True, help="Also print the rendered Dockerfile.")
@reported
def build(site: Path, out: Out, print_dockerfile: bool, **options: Any) -> None:
    """Build SITE's images (the Jekyll builder and the final nginx image) without running them."""
    images = build_site(connect(), *load(site, **options), out.progress)
    for warning in images.warnings:
        out.progress.warning(warning)
    report.show_build(out.progress, images)
    if print_dockerfile:
        click.echo(images.dockerfile, err=out.as_json)
    out.emit({"ok": True, **report.build_summary(images)})


@click.command("report")
@site_argument
@build_options
@reported
def report_command(site: Path, out: Out, **options: Any) -> None:
    """Show where SITE's image bytes come from: sizes, ratio, and every layer.

    Builds first if the site changed since the last build (reusing it otherwise).
    """
    images = build_site(connect(), *load(site, **options), out.progress)
    report.show_build(out.progress, images, show_layers=True)
    out.emit({"ok": True, **report.build_summary(images)})


@click.command()
@site_argument
@click.option("--image", help="Inspect this image (e.g. one pulled from a registry) instead.")
@click.option(
    "--sbom",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the image's bill of materials as CycloneDX JSON to this file.",
)
@click.option(
    "--platform",
    help="With --image: pull and inspect this CPU's image of a published index "
    "(linux/amd64, linux/arm64).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Rebuild SITE from its current inputs and check the result is byte for byte the "
    "same, and each platform's nginx runtime from nothing cached.",
)
@reported
def inspect(
    site: Path, out: Out, image: str | None, sbom: Path | None, platform: str | None, verify: bool
) -> None:
    """Show what is in SITE's image and where every byte came from.

    The recipe (the rendered Dockerfile next to the image history), the base images (pulled
    or bootstrapped here), and a bill of materials: every file from a Debian package with
    its version, and the site's own files. It is all read from the image's labels, so
    --image works on an image pulled from a registry, without the site folder.
    """
    settings = InspectSettings(image=image, sbom=sbom, verify=verify, platform=platform)
    loaded = None if image else load(site)
    result = run_inspect(connect(), loaded, settings, out.progress)
    report.show_inspection(out.progress, result)
    out.emit(result.as_dict())
    if not result.ok:
        sys.exit(1)
