"""Several PopFlow deployments on one machine, exchanging with each other: one System each.

Each deployment is a `System` of its own (topic prefix, databases, ports,
key store) serving its own districts, with its own exchange key pairs; one
partners file, written once every port is known, names all of them (a
deployment reads its own districts as local and the others as partners).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.notification.domain.exchange_crypto import new_key_pairs
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


def partners_toml(systems: dict[str, System], plans: dict[str, Deployment], keys: dict[str, dict[str, str]]) -> str:
    entries = []
    for name, system in systems.items():
        prefixes = ", ".join(f'"{d}"' for d in plans[name].districts)
        entries.append(
            f'[[partners]]\nname = "{name}"\nprefixes = [{prefixes}]\ntransport = "https"\n'
            f'url = "{system.url("notification")}"\n'
            f'verify_key = "{keys[name]["verify_key"]}"\nseal_key = "{keys[name]["seal_key"]}"\n'
        )
    return "\n".join(entries)


async def build_deployments(log_dir: Path, plans: list[Deployment]) -> dict[str, System]:
    """Every deployment built (databases created, nothing started) and the partners file written."""
    partners_file = log_dir / "partners.toml"
    systems, keys = {}, {}
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
        }
        systems[plan.name] = await build_system(log_dir / plan.name, env)
    partners_file.write_text(partners_toml(systems, {p.name: p for p in plans}, keys), encoding="utf-8")
    return systems


def start_all(systems: dict[str, System], plans: list[Deployment]) -> None:
    for plan in plans:
        for service in plan.services:
            systems[plan.name].start(service, wait=False)
    for plan in plans:
        for service in plan.services:
            systems[plan.name].wait_ready(service)


async def destroy_deployments(systems: dict[str, System]) -> None:
    for system in systems.values():
        await destroy_system(system)
