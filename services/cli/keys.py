"""`popflow keys create|revoke|list`: the system's API keys, straight in the key store.

Runs where the key store is reachable (POPFLOW_KEYS_DATABASE_URL, the same
variable the services read). Without it, the key store `popflow up` (`make
run`) last chose in this checkout, which it keeps in var/key-store-url, or
else the services' own default (./var/keys.db): a key made after `make run`
lands where its services look. A new key is printed once; only its hash is kept.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.auth import Role, check_role, default_role, parse_role, parse_scope
from shared.auth.store import MIGRATIONS, ApiKey, KeyStore
from shared.db import build_engine, run_migrations
from shared.settings import CommonSettings

app = typer.Typer(help="API keys: a scope (street:CODE, district:CODE, admin) and a role; shown once, stored hashed.")
console = Console()
DEFAULT_STORE = str(CommonSettings.model_fields["keys_database_url"].default)
# the key store `popflow up` chose for this checkout: its URL holds the database's password, so the file is its owner's
KEY_STORE_FILE = Path(__file__).resolve().parents[2] / "var" / "key-store-url"


def this_checkouts_store(given: str = "") -> str:
    """`given` (the option or POPFLOW_KEYS_DATABASE_URL) when set; else the key store `popflow up` last chose in
    this checkout (var/key-store-url), else the services' default. A typer callback of every store option."""
    if given:
        return given
    try:
        return KEY_STORE_FILE.read_text(encoding="utf-8").strip() or DEFAULT_STORE
    except FileNotFoundError:
        return DEFAULT_STORE
    except PermissionError:
        raise typer.BadParameter(
            f"{KEY_STORE_FILE} is readable by the user who ran `make run` alone (it holds the key store's "
            "password): run as that user, or set POPFLOW_KEYS_DATABASE_URL"
        ) from None


StoreUrl = Annotated[
    str,
    typer.Option(
        envvar="POPFLOW_KEYS_DATABASE_URL",
        show_default=False,
        callback=this_checkouts_store,
        help="The key store's database URL (default: the one `make run` last used here, else ./var/keys.db)",
    ),
]


def remember_store(url: str) -> None:
    """Keep `url` in var/key-store-url for `popflow keys` and `popflow demo`, readable by its owner alone. Written
    whole under another name, then renamed: a reader meets the old URL or the new one, never a part, and never a
    file others may read."""
    KEY_STORE_FILE.parent.mkdir(exist_ok=True)
    written = KEY_STORE_FILE.with_name(f".{KEY_STORE_FILE.name}.{os.getpid()}")
    descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # a file left by a run that died here, made under another umask
        os.write(descriptor, (url + "\n").encode())
    finally:
        os.close(descriptor)
    os.replace(written, KEY_STORE_FILE)


async def open_store(url: str) -> KeyStore:
    engine = build_engine(url)
    await run_migrations(engine, MIGRATIONS, version_table="alembic_version_keys")
    return KeyStore(engine)


async def create_key(url: str, scope: str, label: str, role: Role | None = None) -> tuple[str, str]:
    store = await open_store(url)
    try:
        return await store.create(parse_scope(scope), role=role, label=label)
    finally:
        await store.engine.dispose()


@app.command()
def create(
    scope: Annotated[str, typer.Option(help="street:440111005, district:440111 or admin")],
    role: Annotated[
        str, typer.Option(help="submitter, office, bureau or admin (default: office, bureau or admin by scope)")
    ] = "",
    label: Annotated[str, typer.Option(help="Who the key is for")] = "",
    store_url: StoreUrl = "",
) -> None:
    """Create a key and print it once."""
    try:
        parsed = parse_scope(scope)
        chosen = parse_role(role) if role else default_role(parsed)
        check_role(parsed, chosen)
    except ValueError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    key_id, key = asyncio.run(create_key(store_url, scope, label, chosen))
    console.print(f"key id {key_id}, scope {scope}, role {chosen.value}")
    console.print("The key is shown this once and stored only as a hash; keep it now:")
    print(key)  # plain stdout, so `popflow keys create ... | tail -1` captures it


@app.command()
def revoke(key_id: str, store_url: StoreUrl = "") -> None:
    """Revoke a key by its id; requests with it get 401 from then on."""

    async def run() -> bool:
        store = await open_store(store_url)
        try:
            return await store.revoke(key_id)
        finally:
            await store.engine.dispose()

    if not asyncio.run(run()):
        console.print(f"[red]No active key with id {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"Key {key_id} revoked.")


@app.command("list")
def list_keys(store_url: StoreUrl = "") -> None:
    """Every key: id, scope, label, created, revoked (never the key itself)."""

    async def run() -> list[ApiKey]:
        store = await open_store(store_url)
        try:
            return await store.list_keys()
        finally:
            await store.engine.dispose()

    rows = [_listed(row) for row in asyncio.run(run())]
    if not console.is_terminal:  # piped: whole values a tab apart, not a table cut to a guessed 80 columns
        for cells in (LISTED, *rows):
            print("\t".join(cells))
        return
    table = Table(*LISTED)
    for cells in rows:
        table.add_row(*cells)
    console.print(table)


LISTED = ("key id", "scope", "role", "label", "created", "revoked")


def _listed(row: ApiKey) -> tuple[str, ...]:
    revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else ""
    role = row.role or default_role(parse_scope(row.scope)).value
    return row.key_id, row.scope, role, row.label, row.created_at.isoformat(timespec="seconds"), revoked
