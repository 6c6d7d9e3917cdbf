"""The `sitedeploy` command line: parse options, call one library function, render its result.

Nothing here talks to Docker or decides anything: each command loads the site, calls its
command (`deployer/commands/`) or, for a single step, the entry of a stage, and hands the
typed result to `report` (people, on stderr) and to `--json` (machines, on stdout). The
click commands live in `serve.py` (preview), `images.py` (build, report, inspect), `check.py`,
`ship.py` (publish, k8s), `live.py` (deploy, rollback, remove) and `signing.py` (keys
new, verify).
"""

from __future__ import annotations

import importlib

import click

from deployer import __version__

# Each command's module, imported only when that command runs (or for --help): a command
# pays for its own imports, not every other command's — `build` never loads `inspect`'s.
_COMMANDS = {
    "new": ("serve", "new"),
    "up": ("serve", "up"),
    "build": ("images", "build"),
    "report": ("images", "report_command"),
    "check": ("check", "check"),
    "publish": ("ship", "publish"),
    "deploy": ("live", "deploy"),
    "rollback": ("live", "rollback"),
    "remove": ("live", "remove"),
    "k8s": ("ship", "k8s"),
    "inspect": ("images", "inspect"),
    "verify": ("signing", "verify"),
    "keys": ("signing", "keys"),
    "status": ("serve", "status"),
    "logs": ("serve", "logs"),
    "down": ("serve", "down"),
}


class _Commands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[cmd_name]
        command: click.Command = getattr(
            importlib.import_module(f"deployer.cli.{module}"), attribute
        )
        return command


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="sitedeploy")
def main() -> None:
    """Turn a Jekyll site into a small, hardened nginx container image and run it.

    SITE is a Jekyll site folder (one with _config.yml); it defaults to the current folder.
    Settings come from SITE/sitedeploy.toml and are overridden by flags.
    """
