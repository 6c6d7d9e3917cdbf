"""The `sitedeploy` command line: parse options, call one library function, render its result.

Nothing here talks to Docker or decides anything: each command loads the site, calls its
command (`deployer/commands/`) or, for a single step, the entry of a stage, and hands the
typed result to `report` (people, on stderr) and to `--json` (machines, on stdout). The
click commands live in `serve.py` (preview), `images.py` (build, report, inspect), `check.py`,
`ship.py` (publish, k8s), `live.py` (deploy, rollback, remove) and `signing.py` (keys
new, verify).
"""

from __future__ import annotations

import click

from deployer import __version__
from deployer.cli import check, images, live, serve, ship, signing


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sitedeploy")
def main() -> None:
    """Turn a Jekyll site into a small, hardened nginx container image and run it.

    SITE is a Jekyll site folder (one with _config.yml); it defaults to the current folder.
    Settings come from SITE/sitedeploy.toml and are overridden by flags.
    """


for command in (
    serve.new, serve.up, images.build, images.report_command, check.check, ship.publish,
    live.deploy, live.rollback, live.remove, ship.k8s, images.inspect, signing.verify,
    signing.keys, serve.status, serve.logs, serve.down,
):  # fmt: skip
    main.add_command(command)
