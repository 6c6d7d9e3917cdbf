"""The command line's commands: each name leads to its command, loaded when asked."""

from __future__ import annotations

import click

from deployer.cli import _COMMANDS, main


def test_every_command_is_found_under_its_own_name() -> None:
    context = click.Context(main)
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert command is not None and command.name == name
    assert main.get_command(context, "nonesuch") is None
    assert list(_COMMANDS)[:3] == ["new", "up", "build"]  # --help lists them in this order
