"""Routing's subscribers; each handler states its failure policy in its module docstring.

- records.submitted → service_layer.records.RecordHandler
- notices.answered → service_layer.answers.AnswerHandler
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.records import RecordHandler
from shared.events import NoticeAnswered, RecordSubmitted
from shared.kafka.consuming import subscribe
from shared.topics import TopicNames

GROUP = "routing"


def register_consumers(broker: KafkaBroker, topics: TopicNames, records: RecordHandler, answers: AnswerHandler) -> None:
    subscribe(broker, topics, topic=RecordSubmitted.TOPIC, group=GROUP, handler=records.on_record_submitted)
    subscribe(broker, topics, topic=NoticeAnswered.TOPIC, group=GROUP, handler=answers.on_notice_answered)
