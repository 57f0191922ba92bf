"""A webhook subscription's URL is held to the column that stores it, at the route, naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notification.adapters.tables import WEBHOOK_URL_MAX
from services.notification.entrypoints.http.webhooks import WebhookIn

BASE = "https://hooks.example/"


def test_a_url_the_column_takes_is_taken() -> None:
    url = BASE + "a" * (WEBHOOK_URL_MAX - len(BASE))
    assert len(str(WebhookIn(url=url).url)) == WEBHOOK_URL_MAX


def test_a_longer_url_is_refused_at_the_field_not_by_the_store() -> None:
    # a URL may run to 2,083 characters: one of 2,001 passed the model, and the store's refusal named no field
    with pytest.raises(ValidationError) as refused:
        WebhookIn(url=BASE + "a" * (WEBHOOK_URL_MAX - len(BASE) + 1))
    [error] = refused.value.errors()
    assert (error["loc"], error["type"]) == (("url",), "url_too_long")
