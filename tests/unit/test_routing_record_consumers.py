"""Routing runs ROUTING_RECORD_CONSUMERS members of its records group in one process; the other groups one each."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import ValidationError

from services.cli import catalogue
from services.routing.bootstrap import create_app
from services.routing.settings import RoutingSettings
from shared.topics import NOTICES_ANSWERED, RECORDS_SUBMITTED, REVIEWS_RESOLVED


def members(consumers: int | None) -> dict[str, int]:
    settings = cast(RoutingSettings, catalogue.test_settings("routing"))
    if consumers is not None:
        settings = settings.model_copy(update={"record_consumers": consumers})
    app = create_app(settings)
    prefix = settings.topic_prefix
    counted: dict[str, int] = {}
    for subscriber in app.state.runtime.broker.subscribers:
        (topic,) = subscriber.topic_names
        counted[topic.removeprefix(prefix)] = counted.get(topic.removeprefix(prefix), 0) + 1
    return counted


@pytest.mark.parametrize(("consumers", "records"), [(None, 2), (1, 1), (4, 4)])
def test_the_records_group_has_as_many_members_as_the_setting_says(consumers: int | None, records: int) -> None:
    # answers and resolutions are few: one member each; two records members fill the wait on PostgreSQL
    assert members(consumers) == {RECORDS_SUBMITTED: records, NOTICES_ANSWERED: 1, REVIEWS_RESOLVED: 1}


def test_a_process_runs_at_least_one_and_at_most_32() -> None:
    base: dict[str, Any] = catalogue.test_settings("routing").model_dump()
    for refused in (0, 33):
        with pytest.raises(ValidationError, match="record_consumers"):
            RoutingSettings.model_validate(base | {"record_consumers": refused})
