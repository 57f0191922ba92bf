"""Every time a client gives in a query, on any service's route, needs its offset: one without is a 422.

The inbox's `since` read `2027-02-24T10:30:00`, meant in Beijing, as 10:30 UTC (tests/unit/test_inbox_since_zone.py).
Reporting's filters take weeks (`YYYY-Www`) and days, which are no instants, and no time: this holds every route of
every service to the inbox's rule, so that a time filter added later (a `from`, an `until`) refuses one without an
offset as `since` does (shared AwareDatetime, a 422 naming the field) or fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.routing import BaseRoute

from services.cli import catalogue
from services.intake.bootstrap import create_app as intake_app
from services.notification.bootstrap import create_app as notification_app
from services.reporting.bootstrap import create_app as reporting_app
from services.routing.bootstrap import create_app as routing_app

FACTORIES: dict[str, Callable[[Any], FastAPI]] = {
    "intake": intake_app,
    "routing": routing_app,
    "notification": notification_app,
    "reporting": reporting_app,
}
NAIVE, BEIJING = "2027-02-24T10:30:00", "2027-02-24T10:30:00+08:00"


def _routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, those of the routers a service includes too (its dashboard's pages as well)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def _query(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.query_params
    for dependency in dependant.dependencies:
        yield from _query(dependency)


def _time_parameters() -> dict[tuple[str, str, str], TypeAdapter[Any]]:
    """(service, path, name) of each query parameter that reads a time, with what reads it."""
    found: dict[tuple[str, str, str], TypeAdapter[Any]] = {}
    for service, factory in FACTORIES.items():
        for route in _routes(factory(catalogue.test_settings(service)).router.routes):
            for parameter in _query(route.dependant):
                reads = TypeAdapter(parameter.field_info.rebuild_annotation())
                try:
                    taken = reads.validate_python(BEIJING)
                except ValidationError:  # a week, a code, a number: no time
                    continue
                if isinstance(taken, datetime):
                    found[(service, route.path, parameter.name)] = reads
    return found


def test_every_time_a_query_takes_refuses_one_without_an_offset() -> None:
    times = _time_parameters()
    for where, reads in times.items():
        with pytest.raises(ValidationError) as refused:
            reads.validate_python(NAIVE)
        assert [e["type"] for e in refused.value.errors()] == ["timezone_aware"], where
    # the check found the one there is (a route added with a time joins it here); reporting has none
    assert sorted(times) == [("notification", "/v1/inbox/{recipient_code}", "since")]
