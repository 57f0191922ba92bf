"""`popflow --help` imports no command's module (services/cli/lazy.py); a command imports its own, and the line
`popflow --help` shows for it is the one its own help starts with.

`popflow --help` cost ~2 s of CPU when main.py imported every command's module (FastStream, SQLAlchemy, FastAPI,
openpyxl); every `popflow` run, and each test that runs it as a process, paid it (docs/performance.md, Round 52).
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from services.cli.lazy import LazyCommand
from services.cli.main import PopflowCommands, app

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("faststream", "aiokafka", "sqlalchemy", "alembic", "fastapi", "openpyxl", "httpx", "asyncpg")
# runs `popflow ARGS...`, then names the libraries above it imported
LOADED = f"""
import sys
from services.cli.main import main
try:
    main()
except SystemExit:
    pass
print("loaded:", *sorted(name for name in {HEAVY!r} if name in sys.modules))
"""


def popflow(*args: str) -> tuple[str, list[str]]:
    """What `popflow ARGS...` printed, and which of HEAVY it imported."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    *shown, loaded = done.stdout.strip().splitlines()
    return "\n".join(shown), loaded.split()[1:]


def test_help_lists_every_command_and_imports_none_of_them() -> None:
    shown, loaded = popflow("--help")
    assert loaded == []
    for command in PopflowCommands.lazy_commands:
        assert f"│ {command.name} " in shown
        assert command.line in shown


def test_import_needs_none_of_the_services_web_database_and_kafka_libraries() -> None:
    shown, loaded = popflow("import", "--help")
    assert "FILE" in shown
    assert "httpx" in loaded
    assert not {"faststream", "aiokafka", "sqlalchemy", "alembic", "fastapi", "asyncpg"} & set(loaded)


def test_dead_letters_needs_kafka_but_no_database_library() -> None:
    shown, loaded = popflow("dead-letters", "--help")
    assert "show" in shown
    assert "aiokafka" in loaded
    assert not {"sqlalchemy", "alembic", "fastapi", "openpyxl"} & set(loaded)


def test_a_groups_help_imports_what_that_group_needs_only() -> None:
    shown, loaded = popflow("keys", "--help")
    assert "create" in shown
    assert "faststream" not in loaded
    assert "openpyxl" not in loaded


@pytest.mark.parametrize("listed", PopflowCommands.lazy_commands, ids=lambda command: command.name)
def test_the_listed_line_is_where_the_commands_own_help_starts(listed: LazyCommand) -> None:
    group = get_command(app)
    assert isinstance(group, PopflowCommands)
    context = typer.Context(group)
    name, command, _ = group.resolve_command(context, [listed.name])
    assert name == listed.name
    assert command is not None
    assert command.help is not None
    assert inspect.cleandoc(command.help).split("\n\n")[0].replace("\n", " ") == listed.line
    assert group.get_command(context, listed.name) is command  # loaded once, then kept
