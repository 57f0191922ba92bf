"""The AsyncAPI 3.0 document of every topic, built from the event contracts.

One document for the whole system: a channel per topic of shared/topics.py,
a message per event type (the envelope with its payload schema, the Kafka
key, the schema version), and a send or receive operation per producer and
consumer named in flows.py. FastStream's own generator describes a service's
handler signatures (raw record batches here), not the contracts, so the
document is composed from the contracts directly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import shared.events  # noqa: F401  (importing the package registers every payload class)
from shared.catalogue.flows import FLOWS, Flow
from shared.events.envelope import REGISTRY, Envelope, Event, sealed_together
from shared.events.sealed_parts import SEALED_BLOCK
from shared.topics import ALL_TOPICS, DEAD_LETTER

Document = dict[str, Any]
SCHEMAS = "#/components/schemas/"
EVENT_HEADERS = {
    "type": "object",
    "properties": {
        "event_type": {"type": "string", "description": "The envelope's type, readable without parsing the body"},
        "event_id": {"type": "string", "format": "uuid", "description": "The envelope's event id"},
    },
}
DEAD_LETTER_HEADERS = {
    "type": "object",
    "properties": {
        "error_type": {"type": "string", "description": "Class of the error that made the message unhandleable"},
        "error": {"type": "string", "description": "What was wrong (field paths and error types, never values)"},
        "source_topic": {"type": "string", "description": "Topic the message came from"},
        "source_partition": {"type": "string", "description": "Its partition"},
        "source_offset": {"type": "string", "description": "Its offset"},
        "consumer_group": {"type": "string", "description": "The consumer group that set it aside"},
        "sealed": {"type": "string", "description": "pf1: the body is sealed with the data keys"},
    },
}

REPLAY_NOTE_HEADERS = {
    "type": "object",
    "properties": {
        "replay_of": {"type": "string", "description": "The message re-sent: `<topic> <partition>:<offset>`"},
        "dead_letter": {"type": "string", "description": "The dead letter's place that the replay was given"},
        "event_id": {"type": "string", "format": "uuid", "description": "The re-sent envelope's event id"},
        "replayed_to": {"type": "string", "description": "Where the message lies now: `<partition>:<offset>`"},
        "replayed_at": {"type": "string", "format": "date-time", "description": "When, in UTC"},
        "replayed_by": {"type": "string", "description": "The login of the account that ran the replay"},
    },
}


def asyncapi_document() -> Document:
    """The catalogue: deterministic, so the committed copy can be compared with it."""
    events = sorted(REGISTRY.values(), key=lambda event: (ALL_TOPICS.index(event.TOPIC), event.TYPE))
    schemas = _component_schemas([Envelope, *events])
    messages: Document = {}
    for event in events:
        schemas[f"{event.TYPE}Envelope"] = _envelope_schema(event)
        messages[event.TYPE] = _message(event)
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A message no subscriber could handle",
        "summary": "The original bytes, sealed (header `sealed: pf1`; `popflow dead-letters show` opens them), "
        "with headers saying what went wrong and where it came from.",
        "contentType": "application/octet-stream",
        "headers": DEAD_LETTER_HEADERS,
        "payload": {"description": "The original message body, sealed whole: `pf1.<key id>.<data>`"},
    }
    messages["DeadLetterReplayed"] = {
        "name": "DeadLetterReplayed",
        "title": "A note that `popflow dead-letters replay` re-sent a dead letter's message",
        "summary": "An empty body; the headers say which message went back, where to, when and by which account. "
        "`popflow dead-letters show` reads them to say which letters were re-sent.",
        "contentType": "application/octet-stream",
        "headers": REPLAY_NOTE_HEADERS,
        "payload": {"description": "Empty"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PopFlow events",
            "version": "1",
            "description": "Every topic of PopFlow with its payloads, keys and schema versions. Topic names "
            "are relative: a deployment prefixes them with POPFLOW_TOPIC_PREFIX (default `popflow.`). "
            "Every message but a dead letter is an envelope whose `payload` is shaped by `type` and "
            "`version`; consumers upcast older versions (shared/events).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The cluster named by KAFKA_BOOTSTRAP_SERVERS",
            }
        },
        "channels": {_channel_id(flow.topic): _channel(flow, events) for flow in FLOWS},
        "operations": _operations(events),
        "components": {"messages": messages, "schemas": schemas},
    }


def _component_schemas(models: list[type[BaseModel]]) -> Document:
    _, top = models_json_schema([(model, "validation") for model in models], ref_template=SCHEMAS + "{model}")
    return dict(sorted(top["$defs"].items()))


def _envelope_schema(event: type[Event]) -> Document:
    return {
        "allOf": [{"$ref": SCHEMAS + "Envelope"}],
        "type": "object",
        "properties": {
            "type": {"const": event.TYPE},
            "version": {"const": event.VERSION, "description": "Older versions are upcast by consumers"},
            "payload": {"$ref": SCHEMAS + event.__name__},
        },
    }


def _message(event: type[Event]) -> Document:
    flow = next(flow for flow in FLOWS if flow.topic == event.TOPIC)
    return {
        "name": event.TYPE,
        "title": f"{event.TYPE} v{event.VERSION}",
        "summary": (event.__doc__ or "").strip().splitlines()[0],
        "headers": EVENT_HEADERS,
        "payload": {"$ref": f"{SCHEMAS}{event.TYPE}Envelope"},
        "correlationId": {
            "description": "The record the event belongs to",
            "location": "$message.payload#/correlation_id",
        },
        "bindings": {"kafka": {"key": {"type": "string", "description": flow.key}, "bindingVersion": "0.5.0"}},
        "x-schema-version": event.VERSION,
        "x-upcast-from": sorted(event.UPCASTERS),
        # on the wire each of these parts is a sealed string `pf1.<key id>.<data>` (shared/sealing.py) in its
        # place, or, with x-sealed-block, all of them one such string under that payload key (a JSON object
        # from dotted path to value); parse_event opens them into the shape the payload schema shows
        "x-sealed-parts": list(event.SEALED),
    } | ({"x-sealed-block": SEALED_BLOCK} if event.SEALED and sealed_together(event) else {})


def _channel(flow: Flow, events: list[type[Event]]) -> Document:
    names = (
        ["DeadLetter", "DeadLetterReplayed"]
        if flow.topic == DEAD_LETTER
        else [e.TYPE for e in events if flow.topic == e.TOPIC]
    )
    return {
        "address": flow.topic,
        "description": f"Kafka key: {flow.key}.",
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
    }


def _operations(events: list[type[Event]]) -> Document:
    operations: Document = {}
    for flow in FLOWS:
        channel = _channel_id(flow.topic)
        messages = [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in _channel(flow, events)["messages"]]
        for producer in flow.producers:
            operations[f"{producer.service}.send.{channel}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{producer.service} publishes ({producer.via.value}) when {producer.when}",
                "messages": messages,
            }
        for consumer in flow.consumers:
            operations[f"{consumer}.receive.{channel}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{consumer} consumes {flow.topic}",
                "messages": messages,
            }
    return operations


def _channel_id(topic: str) -> str:
    head, *rest = topic.split(".")
    return head + "".join(part.capitalize() for part in rest)
