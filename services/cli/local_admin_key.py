"""The local admin API key `popflow up` makes and shows once, and where `popflow keys` finds its key store.

Apart from the command (services/cli/local.py): the key is shown on a
deployment's first start only (the store keeps its hash), with the way to
reach that store from `popflow keys` and `popflow demo` in this checkout.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path

from rich.console import Console
from sqlalchemy import make_url

from services.cli.keys import DEFAULT_STORE, create_key, open_store, remember_store
from services.cli.side_by_side import SERVICE_PORTS, LocalDeployment

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the printed commands run from it

console = Console()


def print_admin_key_once(deployment: LocalDeployment) -> None:
    """On the first start (no admin key in the store yet) create one and show it, once: only its hash is kept."""
    url = deployment.env.get("POPFLOW_KEYS_DATABASE_URL", DEFAULT_STORE)

    async def has_admin() -> bool:
        store = await open_store(url)
        try:
            return any(k.scope == "admin" and k.revoked_at is None for k in await store.list_keys())
        finally:
            await store.engine.dispose()

    if asyncio.run(has_admin()):
        console.print(_key_reminder(deployment, url), soft_wrap=True)
        return
    _, key = asyncio.run(create_key(url, "admin", "local admin (make run)"))
    whose = f" of the {deployment.name} deployment" if deployment.name else ""
    console.print(
        f"[bold]Local admin API key{whose}[/] (shown this once, stored only as a hash; `popflow keys` makes more):"
    )
    console.print(key, soft_wrap=True)
    store = _store_assignment(deployment, url)
    console.print(
        (
            f"`popflow keys` and `popflow demo` work on this deployment's key store with {store.strip()}"
            if store
            else "`popflow keys` and `popflow demo` in this checkout use this deployment's key store "
            "(var/key-store-url)"
        )
        + f"\nA campaign week to look at:  {store if deployment.key_store_file else ''}"
        + ".venv/bin/popflow demo --key <the key above>"
        + _demo_options(deployment),
        soft_wrap=True,
    )


def _key_reminder(deployment: LocalDeployment, url: str) -> str:
    """A later start shows no key: it says which one to use, and how to make another when that one is lost."""
    store = _store_assignment(deployment, url)
    whose = f"{deployment.name}'s" if deployment.name else "this deployment's"
    return (
        f"API key: the admin key shown at {whose} first start (lost it? "
        f"{store}.venv/bin/popflow keys create --scope admin makes another)"
    )


def _store_assignment(deployment: LocalDeployment, url: str) -> str:
    """What to put before `popflow keys` to reach this deployment's key store: "" where the checkout's
    var/key-store-url says it; side by side, the file that keeps the URL, password and all (the banner shows
    none); else the store a deployer named, without its password, which they know."""
    if deployment.key_store_file is not None:
        return f'POPFLOW_KEYS_DATABASE_URL="$(cat {shlex.quote(_shown(deployment.key_store_file))})" '
    if "POPFLOW_KEYS_DATABASE_URL" in os.environ or deployment.name:
        return f"POPFLOW_KEYS_DATABASE_URL='{_without_password(url)}' "
    return ""


def _shown(path: Path) -> str:
    """`path` from the checkout, where the printed commands run (`.venv/bin/popflow`), when it lies inside."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _demo_options(deployment: LocalDeployment) -> str:
    """`popflow demo` plays 440111 on 8001-8004 by default; a side-by-side deployment, or one on other ports,
    names its own."""
    services = ("intake", "notification", "reporting")
    moved = [service for service in services if deployment.port(service) != SERVICE_PORTS[service]]
    if not deployment.name and not moved:
        return ""
    urls = " ".join(f"--{service} {deployment.url(service)}" for service in services)
    return (f" --district {deployment.name} " if deployment.name else " ") + urls


def remember_key_store(url: str) -> None:
    """For `popflow keys` and `popflow demo` in this checkout (services/cli/keys.py); a failure to write it is said,
    and stops nothing."""
    try:
        remember_store(url)
    except OSError as error:
        console.print(f"[yellow]Could not keep the key store's URL in var/key-store-url:[/] {error.strerror}")


def _without_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
