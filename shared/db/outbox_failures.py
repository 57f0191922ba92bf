"""Whose fault it is when an outbox row does not publish: the row's own, or the deployment's."""

from __future__ import annotations

from aiokafka.errors import (
    AuthenticationFailedError,
    BrokerNotAvailableError,
    ClusterAuthorizationFailedError,
    IncompatibleBrokerVersion,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    UnsupportedVersionError,
)


class FailsForGood(Exception):
    """A row that will never publish as it is (its envelope does not open or encode)."""


# Kafka errors aiokafka calls non-retriable that say nothing of the row: the producer gave up waiting for
# room or for the broker (an outage longer than its request timeout), it is closing (shutdown), the
# deployment's credentials or grants are wrong, or the broker is another version. Every row would fail
# alike, so none is set aside: the pass stops and the next one tries again, as when Kafka is unreachable.
NOT_THE_ROW = (
    KafkaTimeoutError,
    ProducerClosed,
    KafkaUnavailableError,
    BrokerNotAvailableError,
    AuthenticationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    ProducerFenced,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    UnsupportedVersionError,
    IncompatibleBrokerVersion,
)


def fails_for_good(error: BaseException) -> bool:
    """True for errors no retry can fix: ours with the row, or Kafka's non-retriable ones that are the
    row's (its size, its timestamp, ...); not for those of the deployment or the connection (`NOT_THE_ROW`)."""
    if isinstance(error, FailsForGood):
        return True
    return isinstance(error, KafkaError) and not error.retriable and not isinstance(error, NOT_THE_ROW)
