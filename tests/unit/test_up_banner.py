"""What `popflow up` prints once the system is up: where a newcomer goes next, and with which key.

A newcomer after `make run` looked for the street office's inbox page and the dashboard (in no table of the
banner), lost the admin key the first start showed (a later start said nothing of keys), and, with
`INTAKE_PORT=8101 make run`, was told to run a demo that posted to 8001.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.cli.local import _print_urls
from services.cli.local_admin_key import _key_reminder, print_admin_key_once
from services.cli.side_by_side import LocalDeployment, side_by_side


def said(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_the_banner_names_the_dashboard_and_the_office_page_on_the_deployments_ports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    moved = LocalDeployment("", {"NOTIFICATION_PORT": "8103", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})
    _print_urls([moved], moved.env, pg_admin_url=None)
    out = said(capsys)
    assert "http://127.0.0.1:8004/dashboard" in out
    assert "http://127.0.0.1:8103/office" in out


def test_side_by_side_each_district_has_its_pages(capsys: pytest.CaptureFixture[str]) -> None:
    baiyun = LocalDeployment("440111", {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})
    tianhe = LocalDeployment("440106", {"REPORTING_PORT": "8014", "NOTIFICATION_PORT": "8013"})
    _print_urls([baiyun, tianhe], baiyun.env, pg_admin_url=None)
    out = said(capsys)
    assert "440111: dashboard http://127.0.0.1:8004/dashboard" in out
    assert "440106: dashboard http://127.0.0.1:8014/dashboard" in out
    assert "http://127.0.0.1:8013/office" in out


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("POPFLOW_KEYS_DATABASE_URL", raising=False)
    return f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"


def test_a_later_start_says_which_key_and_how_to_make_another(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployment = LocalDeployment("", {"POPFLOW_KEYS_DATABASE_URL": store})
    print_admin_key_once(deployment)
    assert "pf_" in said(capsys)  # the first start shows its key

    print_admin_key_once(deployment)
    later = said(capsys)
    assert "pf_" not in later
    assert "the admin key shown at this deployment's first start" in later
    assert ".venv/bin/popflow keys create --scope admin" in later


def test_the_demo_hint_names_the_services_when_they_are_on_other_ports(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    print_admin_key_once(LocalDeployment("", {"POPFLOW_KEYS_DATABASE_URL": store, "INTAKE_PORT": "8101"}))
    out = said(capsys)
    assert "popflow demo --key <the key above> --intake http://127.0.0.1:8101" in out
    assert "--notification http://127.0.0.1:8003 --reporting http://127.0.0.1:8004" in out


def test_on_the_usual_ports_the_demo_hint_needs_no_urls(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    print_admin_key_once(LocalDeployment("", {"POPFLOW_KEYS_DATABASE_URL": store}))
    assert "--intake" not in said(capsys)


def test_side_by_side_keeps_each_key_store_url_for_popflow_keys(tmp_path: Path) -> None:
    """`make run-two` keeps no var/key-store-url: `popflow keys create` then made its key in ./var/keys.db, which
    neither deployment reads (401), and the banner's store had its password hidden."""
    deployments = side_by_side({}, ["440111", "440106"], state=tmp_path, pg_admin_url=None)
    for deployment in deployments:
        kept = deployment.key_store_file
        assert kept is not None
        assert kept.read_text().strip() == deployment.env["POPFLOW_KEYS_DATABASE_URL"]
        assert kept.stat().st_mode & 0o777 == 0o600


def test_side_by_side_the_command_shown_reaches_the_store_password_and_all(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://popflow:s3cret@127.0.0.1:5432/popflow_440111_keys"
    kept = tmp_path / "440111" / "key-store-url"
    kept.parent.mkdir()
    kept.write_text(url + "\n")
    shown = " ".join(_key_reminder(LocalDeployment("440111", {}, key_store_file=kept), url).split())
    assert "s3cret" not in shown
    assert "***" not in shown
    assignment = shown[shown.index("POPFLOW_KEYS_DATABASE_URL=") : shown.index(".venv/bin/popflow keys create")]
    ran = subprocess.run(
        ["bash", "-c", f"{assignment}printenv POPFLOW_KEYS_DATABASE_URL"], capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() == url
