"""Whose fault it is when an outbox row does not publish, and how long the relay gives an error that does not say.

`fault_of` answers one of three:

- `Fault.ROW`: no retry can fix it (its envelope does not open, Kafka refuses
  its size: `THE_ROWS`). The relay sets the row aside at once, unless Kafka
  refused it together with other rows of its partition: each is then sent
  again alone first (`sent_again_alone`, at the end of this module).
- `Fault.DEPLOYMENT`: every row would fail alike (Kafka unreachable, a
  timeout, refused credentials: `NOT_THE_ROW`, and anything not Kafka's).
  The pass stops and the next one tries again.
- `Fault.UNCLEAR`: every other Kafka error aiokafka does not retry: its
  catch-alls (the broker's "unexpected server error", a bare KafkaError such
  as the producer's "Unexpected error during batch delivery"), a batch whose
  bytes fail their checksum, and any error named neither the row's nor the
  deployment's. A broker's passing fault (a restart, a leader moving, a disk
  hiccup, bytes damaged on the way) raises them as readily as a row the
  broker chokes on. Set aside at once, a passing fault sets aside rows that
  were fine; retried for ever, a row that always fails holds its person's
  later rows for ever. So the pass stops, as for the deployment's, and
  `UnclearFailures` counts the row's failures until they reach a bound; the
  row is then set aside with its error, as a row's own fault is. Not while
  the producer is known broken (`shared.kafka.refusals.producer_problem`: a
  dead sender task raises a bare KafkaError for every send): the relay then
  takes an unclear error for the deployment's.

The bound is a time with a floor of passes: the row failed so in at least
`passes` passes (5), the first at least `over_s` ago (60 s): the defaults of
POPFLOW_OUTBOX_UNCLEAR_PASSES and POPFLOW_OUTBOX_UNCLEAR_FOR_S. Passes alone
would be a bound whose length follows the load: after a failed pass the next
comes at the next wake (a writer's new row, `linger_s` later: 20 ms at
intake) or poll (1 s), so 5 passes last a tenth of a second under load and 5
s when quiet, shorter than the faults above. A minute outlasts a broker's
restart or a leader election (Kafka's Java producer gives a batch two
minutes, its `delivery.timeout.ms`), and costs little: the row's person's
later rows wait that minute (they would wait longer behind a set-aside row),
and every other person's rows leave one per pass instead of a batch at once,
since each pass stops after its first round. The floor makes the verdict
rest on several failures, not on two either side of an outage in which no
pass reached the row.

Only a pass in which the row itself failed with an unclear error counts. A
pass that did not reach the row (it stopped before the row's send), or in
which the row failed with the deployment's error, neither counts nor starts
the count afresh. Publishing the row ends its count, as does setting it
aside; a row a pass no longer reads (published by another replica's relay
meanwhile) is forgotten. The counts live in memory: a restart, or another
replica taking over the relay, starts them afresh, which gives a row that
always fails one bound more. The broker answers per partition, so rows sent
in the same request to the row's partition fail with it, with the row's error
or with the broker's unclear one alike (aiokafka calls every error code it
does not know UnknownError, Kafka's INVALID_RECORD among them): the relay
sends each of them again alone before it judges it (`sent_again_alone`),
since only a request of its own tells which row is at fault. Only a row that
fails alone counts a strike; the others are published.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka.errors import (
    AuthenticationFailedError,
    BrokerNotAvailableError,
    BrokerResponseError,
    ClusterAuthorizationFailedError,
    IncompatibleBrokerVersion,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    ReplicaNotAvailableError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    UnsupportedForMessageFormatError,
    UnsupportedVersionError,
)

from shared.clock import Clock


class FailsForGood(Exception):
    """A row that will never publish as it is (its envelope does not open or encode)."""


# Kafka errors aiokafka calls non-retriable that say nothing of the row: the producer gave up waiting for
# room or for the broker (an outage longer than its request timeout), it is closing (shutdown), the
# deployment's credentials or grants are wrong, the broker is another version, or the broker refuses the
# producer's or the topic's settings. Every row would fail alike, so none is set aside: the pass stops and the
# next one tries again, as when Kafka is unreachable.
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
    ReplicaNotAvailableError,  # a partition's replica away (Kafka's own clients retry it): the cluster's state
    # the relay's sends carry no timestamp of their own: the producer stamps each with this host's clock, so a
    # timestamp the broker refuses (Kafka 4 takes none over an hour ahead of its own clock by default) is a clock
    # that is wrong, and every row would be refused alike
    InvalidTimestampError,
    # the broker's answer to a setting, whatever the records (Kafka's Java client files all three under
    # InvalidConfigurationException): the request's acks, checked before any append (kafka.server.ReplicaManager,
    # isValidRequiredAcks: -1, 0 or 1; aiokafka takes no other, so only a producer built around it sends one)...
    InvalidRequiredAcksError,
    # ...the topic: an internal one (ReplicaManager.appendToLocalLog, "Cannot append to internal topic"), and the
    # relay's topics are a prefix setting and a name in code. A name Kafka does not allow never gets this far:
    # aiokafka finds no metadata for it and raises UnknownTopicOrPartitionError (retriable) before the send...
    InvalidTopicError,
    # ...and a topic kept at a message format before 0.11, which takes no idempotent producer's batch (a broker
    # before Kafka 4: LogValidator.validateBatch)
    UnsupportedForMessageFormatError,
)

# Kafka errors that are the row's own, at every try whatever the deployment's state: its size, over the
# producer's max_request_size (raised before it is queued, by shared/kafka/direct.py as by aiokafka's `send`)
# or the topic's max.message.bytes, or, sent alone, over the topic's segment.bytes (RECORD_LIST_TOO_LARGE);
# RecordTooLargeError is aiokafka's consumer's name for a record too large. Named one by one: an error that is
# not here is not set aside at once.
THE_ROWS = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)

# Every other non-retriable Kafka error is unclear: it does not say whether the row is at fault. So are the
# broker's UNKNOWN_SERVER_ERROR (error code -1, and any code aiokafka does not know: UnknownError), the base
# classes raised as such (aiokafka raises a bare KafkaError when its sender task dies or no broker answers for
# metadata), and OPERATION_NOT_ATTEMPTED (the broker did not try the row, because another record of its
# request failed; bounded in case it keeps coming). And CORRUPT_MESSAGE: Kafka 4 answers it for a batch whose
# bytes do not match their CRC or framing (UnifiedLog.analyzeAndValidateRecords,
# ByteBufferLogInputStream.nextBatchSize), damaged on the way (a network or memory fault; Kafka's Java client
# retries it, a RetriableException) or encoded wrong by the client, never for a record's size or content as
# such; the same row sent again intact is taken. A record without a key on a compacted topic, which brokers
# once answered so, is INVALID_RECORD on Kafka 4 (LogValidator.validateKey), an UnknownError to aiokafka; and
# every relay row has a key. An error a later aiokafka or Kafka adds is unclear too until it is named here:
# bounded, it is set aside after the bound if it is the row's, and parks no row at once if it is not.


class Fault(enum.Enum):
    ROW = "row"  # set aside at once
    DEPLOYMENT = "deployment"  # the pass stops, the next one tries again
    UNCLEAR = "unclear"  # as the deployment's, until `UnclearFailures` says it has lasted too long


def fault_of(error: BaseException) -> Fault:
    """The row's for errors no retry can fix: ours with the row, or Kafka's that are the row's (`THE_ROWS`:
    its size); the deployment's for retriable ones, `NOT_THE_ROW` and anything not Kafka's; unclear for every
    other Kafka error, which names no cause or one that may be either's."""
    if isinstance(error, FailsForGood):
        return Fault.ROW
    if not isinstance(error, KafkaError) or error.retriable or isinstance(error, NOT_THE_ROW):
        return Fault.DEPLOYMENT
    return Fault.ROW if isinstance(error, THE_ROWS) else Fault.UNCLEAR


@dataclass(slots=True)
class Strikes:
    """A row's failures with an unclear error: since when, in how many passes, and whether that is enough."""

    first: datetime
    passes: int = 0
    given_up: bool = False


class UnclearFailures:
    """Per row id, the passes in which the row failed with an unclear error, until the bound (module docstring)."""

    def __init__(self, clock: Clock, *, passes: int, over_s: float) -> None:
        self._clock, self._passes, self._over = clock, passes, timedelta(seconds=over_s)
        self._rows: dict[int, Strikes] = {}

    def failed(self, row_id: int) -> Strikes:
        """Count a pass in which the row failed so (once a pass); its strikes, `given_up` once they reach the
        bound (the row is then forgotten: it is to be set aside)."""
        now = self._clock.now()
        strikes = self._rows.setdefault(row_id, Strikes(now))
        strikes.passes += 1
        if strikes.passes >= self._passes and now - strikes.first >= self._over:
            strikes.given_up = True
            del self._rows[row_id]
        return strikes

    def keep_only(self, pending: Iterable[int]) -> None:
        """Forget the rows not among `pending` (the rows a pass read): published, or set aside."""
        if self._rows:
            still = set(pending)
            self._rows = {row_id: strikes for row_id, strikes in self._rows.items() if row_id in still}


def sent_again_alone(failed: Sequence[tuple[Hashable, BaseException]], *, renews: bool) -> list[bool]:
    """For each send of a round that failed, (where it went: topic and partition, its error): whether to send
    it again alone before judging it. `renews`: whether the producer's sequence is whole again after a refusal
    (`shared.kafka.direct.DirectSender.renews_sequences`); without, nothing is sent again.

    Kafka answers a request per partition: when it refuses a row for a fault of a row after it left (too large
    for the topic, or an error it does not explain), every row of that request in the partition gets the same
    error, and the one at fault may be another; the producer's batches of the partition that left after it,
    before the producer took a new id, are refused as out of sequence (the deployment's error, but no row's).
    A row refused for a row's fault alone in its partition is the one at fault: judged at once (an unclear
    error: its strike counted).
    """
    if not renews:
        return [False] * len(failed)
    refused = Counter(where for where, error in failed if _refused_by_the_broker(error))

    def again(where: Hashable, error: BaseException) -> bool:
        if _refused_by_the_broker(error):
            return refused[where] > 1  # refused with others: which one is at fault, a request of its own tells
        return isinstance(error, OutOfOrderSequenceNumber) and refused[where] > 0  # left after the refusal

    return [again(where, error) for where, error in failed]


def _refused_by_the_broker(error: BaseException) -> bool:
    """The broker's answer to the row's request that may be the row's own fault: a row's error, or the broker's
    unclear one (its "unknown server error", an error code aiokafka does not know, OPERATION_NOT_ATTEMPTED).
    Not the producer's bare KafkaError, which says nothing of a request."""
    fault = fault_of(error)
    return fault is Fault.ROW or (fault is Fault.UNCLEAR and isinstance(error, BrokerResponseError))
