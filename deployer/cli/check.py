"""`sitedeploy check`: prove the served site works."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deployer.cli import report
from deployer.cli.options import Out, load, reported, site_argument
from deployer.commands.check import check_preview, check_url
from deployer.engine import connect


@click.command()
@site_argument
@click.option("--url", help="Check the site served at URL (e.g. a deploy) instead of the preview.")
@click.option("--external", is_flag=True, help="Also fetch external links (short timeout).")
@click.option("--browser", is_flag=True, help="Also open every page in headless Chromium.")
@reported
def check(site: Path, out: Out, url: str | None, external: bool, browser: bool) -> None:
    """Prove the served site works: every file, link, fragment, feed and sitemap entry.

    Without --url it checks SITE's running preview against the _site its image was built
    from; with --url, any served copy against SITE's current build. Exits 1 when there are
    errors (warnings do not fail).
    """
    folder, config = load(site)
    engine, how = connect(), {"external": external, "browser": browser}
    if url:
        found = check_url(engine, folder, config, url, out.progress, **how)
    else:
        found = check_preview(engine, folder, out.progress, **how)
    report.show_check(out.progress, found)
    out.emit({"ok": found.healthy, **found.as_dict()})
    if not found.healthy:
        sys.exit(1)
