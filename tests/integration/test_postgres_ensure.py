"""deploy/postgres/ensure.sh as a user other than root: nothing to install, so it only checks that the role logs
in with CREATEDB (a newcomer's `make test` stopped at "must run as root" on a PostgreSQL that was ready).

The suite's PostgreSQL (make test made it ready) is the one checked. Run as root, as CI runs, the script is run
as `nobody`; run as another user, as that user.
"""

from __future__ import annotations

import os
import subprocess

from sqlalchemy.engine import make_url

from tests.support.infra import pg_admin_url
from tests.support.system import ROOT


def ensure(port: int) -> subprocess.CompletedProcess[str]:
    """The script read from standard input: `nobody` reaches no file under root's temporary folders."""
    as_other = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*as_other, "env", f"PGPORT={port}", "bash", "-s"],
        input=(ROOT / "deploy/postgres/ensure.sh").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def test_a_ready_postgresql_needs_no_root() -> None:
    port = make_url(pg_admin_url()).port or 5432
    done = ensure(port)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"postgresql://popflow:popflow@127.0.0.1:{port}/postgres"
    assert "nothing to install" in done.stderr


def test_without_one_it_says_what_root_would_do() -> None:
    done = ensure(9)  # nothing listens there
    assert done.returncode == 1
    assert done.stdout == ""
    assert "must run as root to install, start or configure PostgreSQL" in done.stderr
