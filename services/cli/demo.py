"""`popflow demo`: play a campaign week for one district against a running PopFlow (e.g. `make run`).

The week: the bureau plans a campaign with its target population and a few
streets' key areas, those streets keep their register of responsible workers
(a CSV sheet: who answers for which community; each key area its worker);
field workers' records of every event kind (with certificate checks, most
naming their community) arrive through the bulk endpoint; a school, a
kindergarten and a police station hand in their lists as XLSX (one mistyped
row each, refused); streets answer most of the notices waiting for them, each
with a key of its own office (minted for the demo, revoked at its end); the
bureau spot-checks the week's cases, and a place check at a market finds a
person the census missed, who is entered as a record. The dashboard, inboxes
and reports then look like a real week.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from services.cli.keys import create_key, open_store, this_checkouts_store
from shared.auth.scopes import Role
from shared.directory import load_directory
from shared.progress import progress

if TYPE_CHECKING:
    from services.reporting.domain.weeks import ReportWeek

console = Console()


def demo(
    key: Annotated[str, typer.Option(envvar="POPFLOW_API_KEY", help="An admin key (make run prints one)")],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many field records")] = 200,
    district: Annotated[str, typer.Option(help="The district the streets report from")] = "440111",
    seed: Annotated[int, typer.Option(help="Same seed, same records")] = 7,
    intake: Annotated[str, typer.Option(help="Intake's base URL")] = "http://127.0.0.1:8001",
    notification: Annotated[str, typer.Option(help="Notification's base URL")] = "http://127.0.0.1:8003",
    reporting: Annotated[str, typer.Option(help="Reporting's base URL")] = "http://127.0.0.1:8004",
    week: Annotated[bool, typer.Option("--week/--records-only", help="The whole week, or records only")] = True,
    answer_wait_s: Annotated[float, typer.Option(help="How long to wait for notices before answering")] = 60,
    key_store: Annotated[
        str,
        typer.Option(
            envvar="POPFLOW_KEYS_DATABASE_URL",
            show_default=False,
            callback=this_checkouts_store,
            help="The deployment's key store: the streets answer with office keys minted there (revoked at the end) "
            "(default: the one `make run` last used here, else ./var/keys.db)",
        ),
    ] = "",
    timezone: Annotated[str, typer.Option(envvar="POPFLOW_TIMEZONE", help="The deployment's zone")] = "Asia/Shanghai",
) -> None:
    """Play a campaign week (Faker zh_CN records) through the services' own HTTP routes."""
    try:
        from services.cli import demo_week  # Faker is the optional `demo` extra
        from services.cli.demo_records import demo_records
    except ModuleNotFoundError:
        console.print("[red]popflow demo needs the demo extra:[/] pip install 'popflow[demo]' (make install has it)")
        raise typer.Exit(2) from None
    directory, zone = load_directory(), ZoneInfo(timezone)
    this_week = _this_week(zone)
    since = this_week.starts_at if week else None
    at = demo_week.Services(intake=intake, notification=notification, reporting=reporting, key=key)
    try:
        with httpx.Client(timeout=60) as client:
            streets = directory.streets_of(district)[:4]
            if week:
                today, week_begun_on = datetime.now(zone).date(), this_week.starts_at.date()
                campaign = demo_week.plan_campaign(client, at, district, streets, today, week_begun_on)
                console.print(f"campaign planned: {campaign}, key areas in {len(streets)} streets")
                console.print("responsible workers: 2 in each of those streets, for 3 of its communities")
            records = demo_records(count, directory, district=district, seed=seed, since=since)
            statuses = _send(records, intake=intake, key=key)
            console.print(f"sent {count} demo records: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
            if week:
                _play_rest(client, at, directory, district, seed, since, records, answer_wait_s, key_store)
                newcomer = demo_records(1, directory, district=district, seed=seed + 300)[0]
                _acceptance(client, at, district, records, newcomer, this_week.name, zone)
    except httpx.TransportError:
        raise  # main() says `popflow: cannot reach ...` and exits 3, as every command does
    except (demo_week.DemoStepFailed, httpx.HTTPError) as error:
        console.print(f"[red]demo step failed:[/] {error}")
        raise typer.Exit(1) from None
    console.print(where_to_watch(notification, reporting, district, own_store=_own_store(key_store)))


def _own_store(key_store: str) -> bool:
    """Whether `key_store` is not the one `popflow keys` finds by itself here (or that one cannot be read)."""
    try:
        return key_store != this_checkouts_store()
    except typer.BadParameter:
        return True


def where_to_watch(notification: str, reporting: str, district: str, *, own_store: bool = False) -> str:
    """The pages a person opens after the demo; the street offices' keys it used are revoked, so it says how to
    make one: in the key store the demo was given, when that is not the one `popflow keys` finds by itself
    (`make run-two`'s districts each have their own)."""
    store = " with this demo's POPFLOW_KEYS_DATABASE_URL" if own_store else ""
    return (
        f"Watch them: the dashboard {reporting}/dashboard?district={district} (this key); a street's inbox "
        f"{notification}/office (its office key: popflow keys create --scope street:<code>{store})"
    )


def _play_rest(
    client: httpx.Client,
    at: Any,
    directory: Any,
    district: str,
    seed: int,
    since: datetime | None,
    records: list[dict[str, Any]],
    answer_wait_s: float,
    key_store: str,
) -> None:
    from services.cli import demo_week

    for label, body, rows in demo_week.department_lists(directory, district, seed, since):
        summary = demo_week.post_list(client, at, body)
        console.print(
            f"{label} list of {rows} rows: {summary.get('accepted', 0)} accepted, {summary.get('rejected', 0)} refused"
        )
    receiving = sorted(
        {r["residence"]["street"] for r in records if r["residence"]["street"] != r["reporting_street"]}
        & set(directory.streets_of(district))
    )[:6]
    offices = _OfficeKeys(key_store)
    try:
        with progress("Streets answering their notices", unit="streets", total=len(receiving)) as advance:
            answered, as_admin = 0, 0
            for street in receiving:
                office = offices.key_of(street)
                if office is not None and not demo_week.works_for(client, at, office, street):
                    office = None  # minted in a store this deployment does not read
                as_admin += office is None
                answered += demo_week.answer_notices(client, at, [street], wait_s=answer_wait_s, answering_key=office)
                advance(1)
    finally:
        offices.revoke_all()
    by = (
        "by their own offices"
        if not as_admin
        else f"{as_admin} of the {len(receiving)} streets with the admin key (no office key of theirs works here: "
        "the key store named by POPFLOW_KEYS_DATABASE_URL, or the one `make run` last used here, is not this "
        "deployment's)"
    )
    console.print(f"{len(receiving)} streets answered {answered} notices, {by}")


class _OfficeKeys:
    """Office keys of the answering streets, minted in the key store and revoked when the demo ends."""

    def __init__(self, store_url: str) -> None:
        self._store_url = store_url
        self._minted: list[str] = []

    def key_of(self, street: str) -> str | None:
        try:
            key_id, key = asyncio.run(create_key(self._store_url, f"street:{street}", "popflow demo", Role.OFFICE))
        except Exception:  # no store there, or not this deployment's: the admin key answers instead
            return None
        self._minted.append(key_id)
        return key

    def revoke_all(self) -> None:
        """Revoke every minted key; never raises (the demo's own outcome stays what is reported)."""

        async def revoke() -> list[str]:
            left = list(self._minted)
            try:
                store = await open_store(self._store_url)
            except Exception:
                return left
            try:
                for key_id in self._minted:
                    with contextlib.suppress(Exception):  # one that fails is named below, the rest still go
                        if await store.revoke(key_id):
                            left.remove(key_id)
            finally:
                await store.engine.dispose()
            return left

        if not self._minted:
            return
        left = asyncio.run(revoke())
        if left:
            console.print(
                f"[yellow]{len(left)} demo office keys could not be revoked:[/] "
                + ", ".join(f"popflow keys revoke {key_id}" for key_id in left)
            )


def _acceptance(
    client: httpx.Client,
    at: Any,
    district: str,
    records: list[dict[str, Any]],
    newcomer: dict[str, Any],
    week: str,
    zone: ZoneInfo,
) -> None:
    """The bureau's spot check of the demo's `week` (even if a cut-off has passed meanwhile), with a place
    check that finds a person the census missed."""
    from services.cli import demo_week

    today = datetime.now(zone).date()
    check_id, place = demo_week.acceptance_checks(client, at, district, week, today, records, newcomer)
    console.print(
        f"spot check {check_id}: a place check found {place['found']} recorded and {place['missed']} missed "
        f"(entered: {place['entered']})"
    )


def _this_week(zone: ZoneInfo) -> ReportWeek:
    """The report week under way (begun Friday 10:00 in the deployment's zone): the one the demo fills."""
    from services.reporting.domain.weeks import report_week, report_week_of

    return report_week(report_week_of(datetime.now(UTC), zone), zone)


def _send(records: list[dict[str, Any]], *, intake: str, key: str) -> Counter[str]:
    """Post through the bulk endpoint, reading its per-row results as they stream back (NDJSON)."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/x-ndjson"}
    statuses: Counter[str] = Counter()
    with (
        progress("Sending demo records", unit="records", total=len(records)) as advance,
        httpx.stream("POST", f"{intake}/v1/records/bulk", json=records, headers=headers, timeout=600) as response,
    ):
        if response.status_code >= 400:
            said = response.read()[:500].decode(errors="replace")  # the cut may fall inside a character
            console.print(f"[red]intake answered {response.status_code}[/]: {escape(said)}")
            raise typer.Exit(1)
        for line in response.iter_lines():
            result = json.loads(line) if line.strip() else {}
            if "status" in result:
                statuses[result["status"]] += 1
                advance(1)
    return statuses
