"""`popflow up` refused by the database (a wrong password, no such database): one line, exit 3, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from services.cli.unreachable import UNREACHABLE
from tests.support.infra import pg_admin_url

ROOT = Path(__file__).resolve().parents[2]
WRONG = "not-the-password-0417"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("password", WRONG), "password authentication failed"),
        (("database", "no_such_database_0417"), 'database "no_such_database_0417" does not exist'),
    ],
    ids=["wrong password", "no such database"],
)
def test_up_refused_by_the_database_says_why_on_one_line(tmp_path: Path, change: tuple[str, str], says: str) -> None:
    field, value = change
    url = make_url(pg_admin_url()).set(drivername="postgresql")
    url = url.set(password=value) if field == "password" else url.set(database=value)
    admin = url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POPFLOW_", "KAFKA_"))}
    env |= {"POPFLOW_PG_ADMIN_URL": admin, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # no broker is started
    command = [
        sys.executable,
        "-c",
        "import sys; sys.path.insert(0, sys.argv.pop(1)); from services.cli.main import main; main()",
    ]
    done = subprocess.run(
        [*command, str(ROOT), "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == UNREACHABLE, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"popflow: cannot use the database: {says}" in done.stderr
    assert WRONG not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("password", WRONG), "password authentication failed"),
        (("database", "no_such_database_0417"), 'database "no_such_database_0417" does not exist'),
    ],
    ids=["wrong password", "no such database"],
)
def test_a_key_store_refused_by_the_database_is_said_at_once_not_after_a_minute_of_retries(
    tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    # the key store's migrations waited a minute for PostgreSQL to "come up" (retrying what no wait mends),
    # then printed a traceback; the URL in libpq's form (postgresql://), as guides write it, asked for psycopg
    field, value = change
    url = make_url(pg_admin_url()).set(drivername="postgresql")
    url = url.set(password=value) if field == "password" else url.set(database=value)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POPFLOW_", "KAFKA_"))}
    env["POPFLOW_KEYS_DATABASE_URL"] = url.render_as_string(hide_password=False)
    command = [
        sys.executable,
        "-c",
        "import sys; sys.path.insert(0, sys.argv.pop(1)); from services.cli.main import main; main()",
    ]
    done = subprocess.run(
        [*command, str(ROOT), "keys", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == UNREACHABLE, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"popflow: cannot use the database: {says}" in done.stderr
    assert WRONG not in done.stdout + done.stderr
