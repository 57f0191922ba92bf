"""Several PopFlow deployments on one machine, exchanging with each other: one System each.

Each deployment is a `System` of its own (topic prefix, databases, ports,
key store) serving its own districts, with its own exchange key pairs; one
partners file, written once every port is known, names all of them (a
deployment reads its own districts as local and the others as partners),
reached over https or through one FTP platform (tests/support/ftp_platform.py;
FTPS when the platform has a certificate, whose CA every deployment is given).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from services.notification.domain.exchange_crypto import new_key_pairs
from tests.support.ftp_platform import FtpPlatform, password_of
from tests.support.system import System, build_system, destroy_system


@dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    districts: tuple[str, ...]
    services: tuple[str, ...] = ("notification",)


# retries a partner that is down quickly and for long, so a restart is caught within the test
EXCHANGE_TEST_ENV = {
    "NOTIFICATION_RETRY_BASE_S": "0.5",
    "NOTIFICATION_RETRY_CAP_S": "2",
    "NOTIFICATION_RETRY_MAX_ATTEMPTS": "200",
    "NOTIFICATION_POLL_INTERVAL_S": "0.2",
}


def partners_toml(
    systems: dict[str, System],
    plans: dict[str, Deployment],
    keys: dict[str, dict[str, str]],
    ftp: FtpPlatform | None = None,
) -> str:
    """Every deployment as a partner: its https door, or (with `ftp`) its folders on the FTP platform."""
    entries = []
    for name, system in systems.items():
        prefixes = ", ".join(f'"{d}"' for d in plans[name].districts)
        if ftp is None:
            reached = f'transport = "https"\nurl = "{system.url("notification")}"\n'
        else:
            folders = ", ".join(f'"{d}" = "/{d}"' for d in plans[name].districts)
            transport = "ftps" if ftp.tls else "ftp"
            reached = (
                f'transport = "{transport}"\n'
                f'ftp = {{ host = "127.0.0.1", port = {ftp.port}, user_env = "EXCHANGE_FTP_USER", '
                f'password_env = "EXCHANGE_FTP_PASSWORD", folders = {{ {folders} }} }}\n'
            )
        entries.append(
            f'[[partners]]\nname = "{name}"\nprefixes = [{prefixes}]\n{reached}'
            f'verify_key = "{keys[name]["verify_key"]}"\nseal_key = "{keys[name]["seal_key"]}"\n'
        )
    return "\n".join(entries)


def ftp_env(plan: Deployment, ftp: FtpPlatform) -> dict[str, str]:
    """A deployment's account on the platform (the district's own; the partners file names these variables)."""
    own = plan.districts[0]
    return {
        "EXCHANGE_FTP_USER": own,
        "EXCHANGE_FTP_PASSWORD": password_of(own),
        "NOTIFICATION_EXCHANGE_FTP_HOST": "127.0.0.1",
        "NOTIFICATION_EXCHANGE_FTP_PORT": str(ftp.port),
        "NOTIFICATION_EXCHANGE_FTP_USER": own,
        "NOTIFICATION_EXCHANGE_FTP_PASSWORD": password_of(own),
        "NOTIFICATION_EXCHANGE_FTP_FOLDERS": ",".join(f"/{d}" for d in plan.districts),
        "NOTIFICATION_EXCHANGE_FTP_POLL_S": "0.3",
        **(
            {"NOTIFICATION_EXCHANGE_FTP_TLS": "true", "NOTIFICATION_EXCHANGE_FTP_CA_FILE": str(ftp.tls.ca_file)}
            if ftp.tls
            else {}
        ),
    }


async def build_deployments(
    log_dir: Path, plans: list[Deployment], ftp: FtpPlatform | None = None, extra_env: dict[str, str] | None = None
) -> dict[str, System]:
    """Every deployment built (databases created, nothing started) and the partners file written.

    With `ftp`, partners are reached through that platform and each deployment polls its folders.
    """
    partners_file = log_dir / "partners.toml"
    envs, keys = {}, {}
    for plan in plans:
        keys[plan.name] = new_key_pairs()
        (log_dir / plan.name).mkdir(parents=True, exist_ok=True)
        env = {
            **EXCHANGE_TEST_ENV,
            "POPFLOW_SERVED_DISTRICTS": ",".join(plan.districts),
            "ROUTING_RECIPIENTS_FILE": str(partners_file),
            "NOTIFICATION_PARTNERS_FILE": str(partners_file),
            "NOTIFICATION_EXCHANGE_SIGNING_KEY": keys[plan.name]["signing_key"],
            "NOTIFICATION_EXCHANGE_SEALING_KEY": keys[plan.name]["sealing_key"],
            **(ftp_env(plan, ftp) if ftp else {}),
            **(extra_env or {}),
        }
        envs[plan.name] = env
    built = await asyncio.gather(*(build_system(log_dir / plan.name, envs[plan.name]) for plan in plans))
    systems = {plan.name: system for plan, system in zip(plans, built, strict=True)}
    partners_file.write_text(partners_toml(systems, {p.name: p for p in plans}, keys, ftp), encoding="utf-8")
    return systems


def start_all(systems: dict[str, System], plans: list[Deployment]) -> None:
    for plan in plans:
        for service in plan.services:
            systems[plan.name].start(service, wait=False)
    for plan in plans:
        for service in plan.services:
            systems[plan.name].wait_ready(service)


async def destroy_deployments(systems: dict[str, System]) -> None:
    """Every deployment's services told to stop at once (each stop takes a moment: requests finished,
    consumer groups left), then each system destroyed, their databases dropped side by side."""
    for system in systems.values():
        for process in system.processes.values():
            process.terminate()
    await asyncio.gather(*(destroy_system(system) for system in systems.values()))
