"""Routing's subscribers; each handler states its failure policy in its module docstring.

- records.submitted → service_layer.records.RecordHandler, in batches (one transaction each), by
  ROUTING_RECORD_CONSUMERS members of the group per process
- notices.answered → service_layer.answers.AnswerHandler, in batches (one transaction each)
- reviews.resolved → service_layer.reviews.ReviewHandler
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.routing.service_layer.answers import AnswerHandler
from services.routing.service_layer.records import RecordHandler
from services.routing.service_layer.reviews import ReviewHandler
from shared.events import NoticeAnswered, RecordSubmitted, ReviewResolved
from shared.kafka.consuming import subscribe, subscribe_batch
from shared.sealing import Keyring
from shared.topics import TopicNames

# One consumer group per subscription, named under the deployment's prefix like
# its topics. Members of one group rebalance together: with a bare "routing",
# every routing process on the cluster (other deployments, other test runs)
# stalled this one's consumption whenever it started or stopped.
RECORDS_GROUP = "routing"
ANSWERS_GROUP = "routing-answers"
REVIEWS_GROUP = "routing-reviews"
ANSWERS_BATCH = 500


def register_consumers(
    broker: KafkaBroker,
    topics: TopicNames,
    records: RecordHandler,
    answers: AnswerHandler,
    reviews: ReviewHandler,
    keyring: Keyring,
    *,
    record_consumers: int = 1,
) -> None:
    """`record_consumers`: members of the records group in this process, each with its share of the partitions
    (a person's records stay in one partition, so with one member: in order)."""
    subscribe_batch(
        broker,
        topics,
        topic=RecordSubmitted.TOPIC,
        group=RECORDS_GROUP,
        handler=records.on_records,
        keyring=keyring,
        members=record_consumers,
    )
    subscribe_batch(
        broker,
        topics,
        topic=NoticeAnswered.TOPIC,
        group=ANSWERS_GROUP,
        handler=answers.on_answers,
        keyring=keyring,
        # a batch's answers hold their notices and cases locked until it commits: fewer than a records batch,
        # and fewer to go through one by one when one of them can never apply
        max_records=ANSWERS_BATCH,
    )
    subscribe(
        broker,
        topics,
        topic=ReviewResolved.TOPIC,
        group=REVIEWS_GROUP,
        handler=reviews.on_review_resolved,
        keyring=keyring,
    )
