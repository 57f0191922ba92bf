"""The catalogue, the OpenAPI documents and the settings table: committed copies match the code.

When one of these fails after a change (yours or a merge), run `make docs` and commit the result.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from services.cli import catalogue
from services.notification.domain.payload import notice_document
from shared.catalogue.documents import WebhookNotice
from shared.catalogue.flows import FLOWS
from shared.settings import CommonSettings, environment_names
from shared.topics import ALL_TOPICS, DEAD_LETTER

ROOT = Path(__file__).resolve().parents[2]


@cache
def generated() -> dict[Path, str]:
    return catalogue.generated()


def asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(generated()[Path("docs/catalogue/asyncapi.json")])
    return document


def test_the_committed_documents_are_what_the_code_generates() -> None:
    outdated = [str(path) for path, text in generated().items() if _committed(path) != text]
    assert not outdated, f"out of date: {', '.join(outdated)}. Run `make docs` and commit the result."


def _committed(path: Path) -> str | None:
    target = ROOT / path
    return target.read_text(encoding="utf-8") if target.exists() else None


def test_no_stale_document_is_left_beside_the_generated_ones() -> None:
    committed = {
        path.relative_to(ROOT) for folder in ("docs/catalogue", "docs/openapi") for path in (ROOT / folder).iterdir()
    }
    assert committed == {path for path in generated() if path.parent.name in ("catalogue", "openapi")}


def test_every_topic_has_a_channel_with_its_payload_schema_and_key() -> None:
    document = asyncapi()
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == set(ALL_TOPICS)
    for topic in ALL_TOPICS:
        assert channels[topic]["messages"], topic
        for ref in channels[topic]["messages"].values():
            message = _resolve(document, ref["$ref"])
            if topic == DEAD_LETTER:
                continue
            envelope = _resolve(document, message["payload"]["$ref"])
            payload = _resolve(document, envelope["properties"]["payload"]["$ref"])
            assert payload["properties"], topic
            assert message["bindings"]["kafka"]["key"]["description"], topic
            assert envelope["properties"]["version"]["const"] == message["x-schema-version"]


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def test_every_reference_in_the_asyncapi_document_resolves() -> None:
    document = asyncapi()
    for ref in _refs(document):
        _resolve(document, ref)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@cache
def apps() -> dict[str, FastAPI]:
    from services.intake.bootstrap import create_app as intake_app
    from services.notification.bootstrap import create_app as notification_app
    from services.reporting.bootstrap import create_app as reporting_app
    from services.routing.bootstrap import create_app as routing_app

    factories: dict[str, Callable[[Any], FastAPI]] = {
        "intake": intake_app,
        "routing": routing_app,
        "notification": notification_app,
        "reporting": reporting_app,
    }
    return {service: factory(catalogue.test_settings(service)) for service, factory in factories.items()}


@pytest.mark.parametrize("service", ["intake", "routing", "notification", "reporting"])
def test_the_catalogue_names_exactly_the_topics_each_service_subscribes_to(service: str) -> None:
    app = apps()[service]
    prefix = app.state.runtime.settings.topic_prefix
    topics = [topic for subscriber in app.state.runtime.broker.subscribers for topic in subscriber.topic_names]
    if service == "reporting":  # reporting folds with its own aiokafka consumer, not FastStream subscribers
        topics += app.state.reporting.fold.topics
    subscribed = {topic.removeprefix(prefix) for topic in topics}
    declared = {flow.topic for flow in FLOWS if service in flow.consumers}
    assert subscribed == declared


def test_every_service_serves_the_committed_catalogue() -> None:
    committed = json.loads((ROOT / "docs/catalogue/asyncapi.json").read_text(encoding="utf-8"))
    notice_schema = json.loads((ROOT / "docs/catalogue/webhook-notice.schema.json").read_text(encoding="utf-8"))
    for service, app in apps().items():
        client = TestClient(app)  # no `with`: the lifespan (Kafka, database) never starts
        assert client.get("/asyncapi.json").json() == committed, service
        assert client.get("/catalogue/webhook-notice.schema.json").json() == notice_schema, service
        missing = client.get("/catalogue/nothing.json")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_the_webhook_body_is_the_documented_notice() -> None:
    document = notice_document(
        notice_id="n-1",
        record_id="r-1",
        recipient_code="440111008",
        route="cross-street",
        kind="transfer",
        reason="lives in your street",
        person={"name": "张三", "id_number": "430102199003070127", "residence_address": "新市路 1 号", "sex": "f"},
        issued_at=datetime(2026, 2, 24, 2, 30, tzinfo=UTC),
        record_link="http://127.0.0.1:8001/v1/records/r-1?notice=n-1",
        answer_expected=True,
        answer_due=datetime(2026, 2, 26, 16, tzinfo=UTC),
    )
    notice = WebhookNotice.model_validate(document)  # extra="forbid": a field added on one side only fails
    assert set(document) == set(WebhookNotice.model_fields)
    assert "sex" not in notice.person.model_dump()


@pytest.mark.parametrize("field", ["issued_at", "answer_due"])
def test_the_webhook_bodys_times_carry_their_offset(field: str) -> None:
    """The committed schema says so, and a body with a time without one is refused naming it, not read as UTC
    (a receiver in Beijing that read `2026-02-24T02:30:00` as its own time put the notice eight hours off)."""
    document = notice_document(
        notice_id="n-1",
        record_id="r-1",
        recipient_code="440111008",
        route="cross-street",
        kind="transfer",
        reason="lives in your street",
        person={"name": "张三", "id_number": "430102199003070127", "residence_address": "新市路 1 号"},
        issued_at=datetime(2026, 2, 24, 2, 30, tzinfo=UTC),
        record_link=None,
        answer_expected=True,
        answer_due=datetime(2026, 2, 26, 16, tzinfo=UTC),
    )
    with pytest.raises(ValidationError) as refused:
        WebhookNotice.model_validate({**document, field: "2026-02-24T10:30:00"})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [((field,), "timezone_aware")]
    assert getattr(WebhookNotice.model_validate(document), field) == datetime.fromisoformat(document[field])
    schema = json.loads(generated()[Path("docs/catalogue/webhook-notice.schema.json")])
    assert "with its offset" in schema["properties"][field]["description"]


def test_the_settings_table_lists_every_variable_with_its_meaning() -> None:
    table = generated()[Path("docs/settings.md")]
    classes: dict[str, type[BaseSettings]] = {"common": CommonSettings, **catalogue.settings_classes()}
    for settings_class in classes.values():
        for name in environment_names(settings_class):
            row = next((line for line in table.splitlines() if line.startswith(f"| `{name}` |")), None)
            assert row is not None, name
            assert not row.endswith("|  |"), f"{name} has no Field(description=...)"


def test_every_pattern_in_the_documents_means_the_same_to_a_standard_regex_engine() -> None:
    """pydantic checks `pattern` with Rust's regex, which reads `[[0-9]Xx]` as one set of digits and X; Python's
    `re` (and a client validating against the document) reads a set of `[` and digits, then `Xx]`. Python warns
    (FutureWarning) where the engines part: a nested set, or a set operation (`--`, `&&`, `~~`, `||`)."""
    documents = {path: json.loads(text) for path, text in generated().items() if path.suffix == ".json"}
    assert Path("docs/openapi/intake.json") in documents
    for path, document in documents.items():
        for pattern in _patterns(document):
            assert "[[" not in pattern, f"{path}: {pattern}"
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)
                re.compile(pattern)


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [*node.get("patternProperties", {})] + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []
