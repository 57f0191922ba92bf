"""`popflow up` as a supervisor: a service that dies stops everything with a non-zero exit, and a
SIGTERM at any moment (here: in the middle of start-up) leaves no process behind. Services on ports of the
deployer's choosing reach each other there.

`up --districts` starts two district deployments side by side, each healthy
and each the other's exchange partner.

`up` runs against the shared test broker (KAFKA_BOOTSTRAP_SERVERS set, so it
starts no Kafka of its own) with SQLite stores in a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from services.cli.keys import create_key
from services.cli.side_by_side import PORT_STEP
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET, kafka_bootstrap, unique_name
from tests.support.system import ROOT, SERVICES, free_port, reserve
from tests.support.waiting import eventually


def up_environment(tmp_path: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(),
        "POPFLOW_TOPIC_PREFIX": f"test.{unique_name('up')}.",
        "POPFLOW_TOPIC_PARTITIONS": "1",
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_KEYS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/keys.db",
        "POPFLOW_LOG_FORMAT": "json",
    }
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(free_port())
        env[f"{service.upper()}_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/{service}.db"
    return env


def start_up(env: dict[str, str], tmp_path: Path, *options: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / "up.log").open("wb")
    command = [sys.executable, "-c", "from services.cli import main; main()", "up", *options]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def children_of(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, parent = fields[0], int(fields[1])
        if parent == pid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def alive(pids: list[int]) -> list[int]:
    living = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            living.append(pid)
    return living


async def wait_exit(process: subprocess.Popen[bytes]) -> int:
    return await asyncio.to_thread(process.wait, 120)


async def test_up_exits_non_zero_when_a_service_dies_and_leaves_no_child(tmp_path: Path) -> None:
    env = up_environment(tmp_path)
    up = start_up(env, tmp_path)
    try:

        async def all_ready() -> bool:
            async with httpx.AsyncClient(timeout=2) as client:
                for service in SERVICES:
                    try:
                        answer = await client.get(f"http://127.0.0.1:{env[f'{service.upper()}_PORT']}/readyz")
                    except httpx.HTTPError:
                        return False
                    if answer.status_code != 200:
                        return False
            return True

        await eventually(all_ready, within=180)
        services = children_of(up.pid)
        assert len(services) == len(SERVICES)
        # the services reach each other on the ports they were given, not the settings' 8001 and 8004
        intake, reporting = f"http://127.0.0.1:{env['INTAKE_PORT']}", f"http://127.0.0.1:{env['REPORTING_PORT']}"
        notification_env = environment_of(next(pid for pid in services if "services.notification" in command_line(pid)))
        reporting_env = environment_of(next(pid for pid in services if "services.reporting" in command_line(pid)))
        assert notification_env["NOTIFICATION_RECORD_LINK_BASE"] == intake + "/v1/records/"
        assert notification_env["NOTIFICATION_REPORTING_URL"] == reporting
        assert reporting_env["REPORTING_INTAKE_URL"] == intake
        routing = next(pid for pid in services if "services.routing" in command_line(pid))
        os.kill(routing, signal.SIGKILL)

        assert await wait_exit(up) == 1
        assert alive(services) == []
        assert "routing exited" in (tmp_path / "up.log").read_text(errors="replace")
    finally:
        if up.poll() is None:  # a check failed while all ran: SIGTERM, so that `up` stops its services too
            up.terminate()
            await wait_exit(up)


async def test_up_refuses_a_port_already_listened_on_and_starts_nothing(tmp_path: Path) -> None:
    env = up_environment(tmp_path)
    taken = int(env["ROUTING_PORT"])
    with socket.socket() as other:  # a PopFlow still running, say
        other.bind(("127.0.0.1", taken))
        other.listen()
        up = start_up(env, tmp_path)
        try:
            assert await wait_exit(up) == 1
        finally:
            if up.poll() is None:
                up.kill()
    said = (tmp_path / "up.log").read_text(errors="replace")
    assert f"{taken} for routing (ROUTING_PORT)" in " ".join(said.split()), said
    assert children_of(up.pid) == []
    assert "PopFlow is up" not in said
    assert "PopFlow stopped" not in said  # nothing was started to stop


async def test_sigterm_during_start_up_stops_everything(tmp_path: Path) -> None:
    env = up_environment(tmp_path)
    up = start_up(env, tmp_path)
    try:

        async def services_started() -> list[int] | None:
            started = children_of(up.pid)
            return started if len(started) == len(SERVICES) else None

        services = await eventually(services_started, within=60)
        up.send_signal(signal.SIGTERM)  # the services are still migrating and connecting

        assert await wait_exit(up) == 0
        assert alive(services) == []
        assert children_of(up.pid) == []
    finally:
        if up.poll() is None:
            up.kill()


def port_with_room() -> int:
    """A free port whose PORT_STEP-higher neighbour is free too (the second district's)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + PORT_STEP))
            except OSError:
                continue
        reserve(port + PORT_STEP)  # not handed out to another service of the test
        return port


def environ_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)


async def test_up_districts_starts_two_deployments_side_by_side_each_the_others_partner(tmp_path: Path) -> None:
    env = up_environment(tmp_path) | {"POPFLOW_STATE_DIR": str(tmp_path / "state")}
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(port_with_room())
    districts = ["440111", "440106"]
    urls = {
        code: {
            service: f"http://127.0.0.1:{int(env[f'{service.upper()}_PORT']) + PORT_STEP * n}" for service in SERVICES
        }
        for n, code in enumerate(districts)
    }
    up = start_up(env, tmp_path, "--districts", ",".join(districts))
    try:

        async def all_ready() -> bool:
            async with httpx.AsyncClient(timeout=2) as client:
                for url in [u for per_district in urls.values() for u in per_district.values()]:
                    try:
                        if (await client.get(url + "/readyz")).status_code != 200:
                            return False
                    except httpx.HTTPError:
                        return False
            return True

        await eventually(all_ready, within=240)
        services = children_of(up.pid)
        assert len(services) == 2 * len(SERVICES)
        prefixes = {environ_of(pid)["POPFLOW_TOPIC_PREFIX"] for pid in services}
        assert prefixes == {env["POPFLOW_TOPIC_PREFIX"] + f"{code}." for code in districts}
        # each reporting enters a place check's missed persons at its own district's intake, not at 8001's
        intakes = {
            environ_of(pid)["POPFLOW_SERVED_DISTRICTS"]: environ_of(pid)["REPORTING_INTAKE_URL"] for pid in services
        }
        assert intakes == {code: urls[code]["intake"] for code in districts}

        async with httpx.AsyncClient(timeout=10) as client:
            for code, other in (districts, districts[::-1]):
                store = f"sqlite+aiosqlite:///{tmp_path}/state/{code}/keys.db"
                _, key = await create_key(store, f"district:{code}", "test bureau")
                overview = await client.get(
                    urls[code]["notification"] + "/v1/exchange/partners", headers={"Authorization": f"Bearer {key}"}
                )
                assert overview.status_code == 200, overview.text
                partners = {p["name"]: p for p in overview.json()["partners"]}
                assert f"district-{code}" not in partners  # its own entry in the shared file is no partner
                assert partners[f"district-{other}"]["ready"] is True
                assert partners[f"district-{other}"]["address"] == urls[other]["notification"]

        up.send_signal(signal.SIGTERM)
        assert await wait_exit(up) == 0
        assert alive(services) == []
    finally:
        if up.poll() is None:
            up.kill()
