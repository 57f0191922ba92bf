"""`popflow up --districts 440111,440106`: one deployment per district, side by side, exchanging with each other.

Each deployment is what `popflow up` starts for one district: the four
services, with its own topic prefix (`<prefix><district>.`), its own
databases (PostgreSQL `popflow_<district>_<service>`, or SQLite files under
the state folder) and its own ports (8001-8004 for the first district,
8011-8014 for the second, ...). One partners file in the state folder names
every deployment as an https partner of the others, with key pairs made
fresh at each start, so a case reported in one district for a person living
in another travels through the exchange on this machine. Each dashboard
shows the exchange per partner, read with a bureau key kept in the state
folder (development only). docs/exchange.md has the walk-through.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from services.cli.databases import ensure_databases
from services.cli.keys import open_store
from services.notification.domain.exchange_crypto import new_key_pairs
from shared.auth import Role, parse_scope

SERVICE_PORTS = {"intake": 8001, "routing": 8002, "notification": 8003, "reporting": 8004}
PORT_STEP = 10  # the n-th district's services listen PORT_STEP * n above the first's


@dataclass(frozen=True, slots=True)
class LocalDeployment:
    name: str  # the district it serves; "" for the single deployment of a plain `popflow up`
    env: dict[str, str]
    # side by side: the file that keeps its key store's URL (password included, 0600) for `popflow keys`
    key_store_file: Path | None = None

    def port(self, service: str) -> int:
        return int(self.env.get(f"{service.upper()}_PORT", SERVICE_PORTS[service]))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"


def parse_districts(text: str) -> list[str]:
    """`440111,440106`: distinct 6-digit codes, at least two; ValueError otherwise."""
    codes = [code.strip() for code in text.split(",") if code.strip()]
    if len(codes) < 2 or len(set(codes)) != len(codes) or not all(c.isascii() and c.isdigit() for c in codes):
        raise ValueError("--districts lists two or more distinct 6-digit district codes, e.g. 440111,440106")
    if any(len(code) != 6 for code in codes):
        raise ValueError("--districts lists 6-digit district codes, e.g. 440111,440106")
    return codes


def side_by_side(
    base: dict[str, str],
    districts: list[str],
    *,
    state: Path,
    pg_admin_url: str | None,
    database_prefix: str = "popflow_",
) -> list[LocalDeployment]:
    """Every district's environment, its databases ready, and the partners file naming them all. On PostgreSQL a
    district's databases are `database_prefix`, its code and `_` before the service: the checkout's prefix
    (`popflow up` chooses it), so a second checkout's are its own."""
    state.mkdir(parents=True, exist_ok=True)
    partners_file = state / "partners.toml"
    deployments, keys = [], {}
    for n, code in enumerate(districts):
        keys[code] = new_key_pairs()
        env = {
            **base,
            "POPFLOW_SERVED_DISTRICTS": code,
            "POPFLOW_DEPLOYMENT_NAME": code,  # its lines told apart from the other district's in the one log
            "POPFLOW_TOPIC_PREFIX": f"{base.get('POPFLOW_TOPIC_PREFIX', 'popflow.')}{code}.",
            "ROUTING_RECIPIENTS_FILE": str(partners_file),
            "NOTIFICATION_PARTNERS_FILE": str(partners_file),
            "NOTIFICATION_EXCHANGE_SIGNING_KEY": keys[code]["signing_key"],
            "NOTIFICATION_EXCHANGE_SEALING_KEY": keys[code]["sealing_key"],
            **district_ports(base, n),
            **_databases(code, state / code, pg_admin_url, database_prefix),
        }
        key_store_file = state / code / "key-store-url"
        _keep_key_store_url(env["POPFLOW_KEYS_DATABASE_URL"], key_store_file)
        deployment = LocalDeployment(code, env, key_store_file=key_store_file)
        env.update(urls_between_services(deployment))
        env["REPORTING_NOTIFICATION_URL"] = deployment.url("notification")
        env["REPORTING_NOTIFICATION_KEY"] = asyncio.run(_dashboard_key(env["POPFLOW_KEYS_DATABASE_URL"], code, state))
        deployments.append(deployment)
    partners_file.write_text(partners_toml(deployments, keys), encoding="utf-8")
    return deployments


def partners_toml(deployments: list[LocalDeployment], keys: dict[str, dict[str, str]]) -> str:
    """Each deployment as an https partner with its public keys (each reads its own entry as itself)."""
    entries = [
        f'[[partners]]\nname = "district-{d.name}"\nprefixes = ["{d.name}"]\ntransport = "https"\n'
        f'url = "{d.url("notification")}"\n'
        f'verify_key = "{keys[d.name]["verify_key"]}"\nseal_key = "{keys[d.name]["seal_key"]}"\n'
        for d in deployments
    ]
    return "# Written by `popflow up --districts` at each start: every deployment on this machine.\n\n" + "\n".join(
        entries
    )


def urls_between_services(deployment: LocalDeployment) -> dict[str, str]:
    """Where a service reaches another, from the ports this deployment's services listen on: the settings'
    defaults say 8001 and 8004, which `INTAKE_PORT=...` or a second district moves."""
    return {
        "NOTIFICATION_RECORD_LINK_BASE": deployment.url("intake") + "/v1/records/",  # a notice's record link
        "NOTIFICATION_REPORTING_URL": deployment.url("reporting"),  # the office page submits weekly reports there
        "REPORTING_INTAKE_URL": deployment.url("intake"),  # a place check enters the missed persons there
    }


def district_ports(base: dict[str, str], n: int) -> dict[str, str]:
    """The first district's ports are the usual ones (or *_PORT when set); each next one PORT_STEP higher."""
    return {
        f"{service.upper()}_PORT": str(int(base.get(f"{service.upper()}_PORT", default)) + PORT_STEP * n)
        for service, default in SERVICE_PORTS.items()
    }


def _databases(code: str, folder: Path, pg_admin_url: str | None, prefix: str) -> dict[str, str]:
    names = [*SERVICE_PORTS, "keys"]
    if pg_admin_url:
        urls = ensure_databases(pg_admin_url, names, prefix=f"{prefix}{code}_")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        urls = {name: f"sqlite+aiosqlite:///{folder / name}.db" for name in names}
    return {
        ("POPFLOW_KEYS_DATABASE_URL" if name == "keys" else f"{name.upper()}_DATABASE_URL"): url
        for name, url in urls.items()
    }


def _keep_key_store_url(url: str, path: Path) -> None:
    """The URL `popflow keys` needs for this deployment's store, readable by its owner alone: on PostgreSQL it
    holds the password, which the banner hides (`POPFLOW_KEYS_DATABASE_URL="$(cat <path>)"` is what it shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(url + "\n")
    path.chmod(0o600)  # a file an earlier run wrote under the umask


async def _dashboard_key(store_url: str, code: str, state: Path) -> str:
    """The bureau key this deployment's dashboard reads the exchange with: kept in the state folder (0600)
    while it is valid, made anew otherwise."""
    kept = state / code / "dashboard.key"
    store = await open_store(store_url)
    try:
        if kept.exists() and await store.authenticate(kept.read_text().strip()) is not None:
            return kept.read_text().strip()
        _, key = await store.create(
            parse_scope(f"district:{code}"), role=Role.BUREAU, label="dashboard's exchange view (popflow up)"
        )
    finally:
        await store.engine.dispose()
    kept.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(key)
    return key
