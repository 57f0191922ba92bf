"""Subcommands whose modules are imported only when that subcommand runs (or shows its own help).

Each command's module imports what it works with (FastStream, SQLAlchemy, FastAPI, openpyxl): importing them
all costs about two seconds of CPU, which `popflow --help`, and a clerk's `popflow import`, should not pay for
the others. The group lists each command from its `LazyCommand` (its name and the line `popflow --help`
shows) and imports the module when Click resolves the command to run it; the command is then built exactly as
`app.command(...)` or `app.add_typer(...)` would have built it, so its help, options and exit codes are its own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from collections.abc import Sequence

    # typer 0.29 builds its commands on its own copy of Click (pinned: typer==0.29.1 in pyproject.toml)
    from typer._click import Command, Context


@dataclass(frozen=True)
class LazyCommand:
    """`popflow NAME`, found at `module:attribute`: a function (a command) or a `typer.Typer` (a group).

    `line` is what `popflow --help` shows beside NAME: with `gives_help` it is the command's help too (as
    `app.command(help=line)`), else it is the first paragraph of the command's own help (its docstring, or its
    Typer's `help`), which a test holds it to."""

    name: str
    target: str
    line: str
    gives_help: bool = False

    def load(self, group: TyperGroup) -> Command:
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            return get_group_from_info(
                TyperInfo(found, name=self.name),
                pretty_exceptions_short=True,
                suggest_commands=group.suggest_commands,
                rich_markup_mode=group.rich_markup_mode,
            )
        info = CommandInfo(name=self.name, callback=found, help=self.line if self.gives_help else None)
        return get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=group.rich_markup_mode)


class _Listed(TyperCommand):
    """A command not imported yet: its name and help line, enough for the group's help and completion."""

    def __init__(self, command: LazyCommand) -> None:
        super().__init__(command.name, help=command.line)
        self.lazy = command


class LazyGroup(TyperGroup):
    """A Typer group (`typer.Typer(cls=...)`) whose `commands` are loaded when resolved; subclasses set them."""

    lazy_commands: ClassVar[Sequence[LazyCommand]] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for command in self.lazy_commands:
            self.commands[command.name] = _Listed(command)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Listed) and name is not None:
            command = self.commands[name] = command.lazy.load(self)
        return name, command, rest
