"""FTP acknowledgements, both ends: told to a batch's sender once the batch is taken, settled when ours come back.

Over https a partner's 2xx is the acknowledgement. Over FTP an upload only
puts the batch in the partner's folder; when the partner's poller has taken
it (every message applied, or the batch set aside as a whole) it writes a
signed acknowledgement into our folder (domain/exchange_ack.py), and our
poller settles the batch: its messages count as acknowledged or, set aside
over there, fail with the reason for the bureau to redeliver.

An acknowledgement goes where our batches to its sender go: the folder the
partners file names for the sender's district, with our account there. A
sender we cannot reach that way (no ready partner, reached over https, folder
or account unconfigured, no key to sign with) or whose folder refuses us for
good (a permanent FTP or TLS error) gets none, logged: the batch is taken all
the same. So does a batch whose id no file of ours may be named after
(exchange_ack.unnameable: an identity number in it, say); the poller lists a
taken one for the bureau, with its id masked, as it lists a set-aside one.
A passing FTP error holds the sender back (domain/held_back.py): AckHeld, the
batch left where it is, and its sender's other batches too, until its wait
passes (5 s, doubling to 5 min); then the batch, applied again as duplicates,
is acknowledged. One line a wait, and one when it writes again. A batch id,
its sender's choice, is logged as said_safely says it.
"""

from __future__ import annotations

import ftplib
import ssl
from collections.abc import Callable
from datetime import datetime

import structlog

from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.domain.exchange_ack import Ack, AckSetAside, Outcome, build_ack, read_ack, unnameable
from services.notification.domain.exchange_batch import SetAside
from services.notification.domain.held_back import HeldBack
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_outbound import OutboundExchange, Refusal
from shared.clock import Clock
from shared.exchange.partners import Partner, PartnerTable
from shared.logging import said_safely

log = structlog.get_logger(__name__)

_FOR_GOOD = (ftplib.error_perm, ssl.SSLError)  # the folder refuses us, or its certificate does not check
_PASSING = (ftplib.Error, OSError, EOFError)  # what else the platform says: it may answer later


class AckHeld(Exception):
    """The acknowledgement could not be written into `partner`'s folder now (or that partner is held back after
    such a failure): the batch waits, as its sender's others do, until the partner's wait has passed."""

    def __init__(self, partner: str) -> None:
        super().__init__(f"acknowledgements to {partner} held back")
        self.partner = partner


class Acknowledgements:
    def __init__(
        self,
        *,
        partners: Callable[[], PartnerTable],
        outbound: OutboundExchange,
        door: ExchangeDoor,
        store: ExchangeStore,
        served_districts: list[str],
        clock: Clock,
        max_age_s: int,
        drop: Callable[[FtpAccount], FtpDrop] | None = None,
    ) -> None:
        """`drop`: our account on a sender's platform, as acknowledgements are written to it (the poll's own
        thread: on the uploads', eight stalled uploads held every acknowledgement, and with it every batch the
        poll would take); None, the uploads' (outbound.ftp_drop)."""
        self._partners, self._outbound, self._door, self._store = partners, outbound, door, store
        self._drop = drop or outbound.ftp_drop
        self._served, self._clock, self._max_age_s = served_districts, clock, max_age_s
        self._held = HeldBack()  # partners whose folder refused an acknowledgement, for a while

    def waiting(self, partner: str, now: datetime) -> bool:
        """Whether acknowledgements to `partner` are held back now: its batches are not worth reading yet."""
        return self._held.waiting(partner, now)

    async def tell_sender(
        self,
        batch_id: str,
        manifest: dict[str, object],
        *,
        outcome: Outcome,
        taken: int = 0,
        refused: int = 0,
        reason: str | None = None,
        refused_lines: dict[str, str] | None = None,
    ) -> None:
        """Write the acknowledgement of batch `batch_id` (its file's name) into its sender's folder;
        `refused_lines` when `reason` could not name every refused line (exchange_batch.said_whole). AckHeld
        when its folder does not take it now, or is held back after it did not."""
        sender = str(manifest.get("sender", ""))
        partner = self._partners().ready_partner_for(sender) if sender else None
        if partner is None or manifest.get("batch_id") != batch_id:
            log.info("ftp batch not acknowledged: no known sender to tell", outcome=outcome.value)
            return
        if why := unnameable(batch_id):  # the poller lists a taken one for the bureau (a set-aside one is listed)
            log.info("ftp batch not acknowledged", partner=partner.name, batch_id=said_safely(batch_id), reason=why)
            return
        if self._held.waiting(partner.name, self._clock.now()):
            raise AckHeld(partner.name)
        route = self._outbound.ftp_route(partner, sender)
        if isinstance(route, Refusal):
            said = said_safely(batch_id)
            log.warning("ftp batch not acknowledged", partner=partner.name, batch_id=said, reason=route.reason)
            return
        account, folder = route
        recipient = str(manifest.get("recipient", ""))[:6]
        try:
            name, data = build_ack(
                manifest=manifest,
                sender=recipient if recipient in self._served else self._served[0],
                outcome=outcome,
                taken=taken,
                refused=refused,
                reason=reason,
                refused_lines=refused_lines,
                timestamp=str(int(self._clock.now().timestamp())),
                sign=lambda msg_id, ts, body: self._outbound.sign(partner, msg_id, ts, body),
            )
            await self._drop(account).put(folder, name, data)
        except (ValueError, *_FOR_GOOD) as error:
            # the platform's reply may quote the file's name: said as any text from outside is
            said, error_said = said_safely(batch_id), said_safely(str(error), 200)
            log.warning("ftp batch not acknowledged", partner=partner.name, batch_id=said, error=error_said)
            return
        except _PASSING as error:
            self._hold_back(partner.name, error)
            raise AckHeld(partner.name) from error
        if run := self._held.succeeded(partner.name):
            log.info("ftp acknowledgements written again", partner=partner.name, failures=run.failures, since=run.since)
        log.info("ftp batch acknowledged", partner=partner.name, batch_id=said_safely(batch_id), outcome=outcome.value)

    def _hold_back(self, partner: str, error: BaseException) -> None:
        """`partner`'s folder did not take an acknowledgement: held back, said once a wait."""
        now = self._clock.now()
        if step := self._held.failed(partner, now):
            log.warning(
                "ftp acknowledgement not written; the partner's batches wait",
                partner=partner,
                error=type(error).__name__,
                failures=step.failures,
                wait_s=step.wait_s(now),
            )

    async def settle(self, batch_id: str, raw: bytes) -> Partner:
        """Settle our batch `batch_id` with the acknowledgement `raw` (its file); AckSetAside changes nothing."""
        try:
            ack: Ack = read_ack(raw)
        except SetAside as refusal:
            raise AckSetAside(str(refusal)) from refusal
        sender = ack.fields.sender
        if ack.fields.batch_id != batch_id:
            raise AckSetAside("acknowledgement names another batch than its file", sender=sender)
        try:
            partner = self._door.ack_sender(ack, max_age_s=self._max_age_s)
        except SetAside as refusal:
            raise AckSetAside(str(refusal), sender=sender) from refusal
        try:
            failed = await self._store.acknowledge(ack.fields, partner=partner.name, now=self._clock.now())
        except SetAside as refusal:
            raise AckSetAside(str(refusal), sender=sender, partner=partner.name) from refusal
        log.info(
            "ftp acknowledgement taken",
            partner=partner.name,
            batch_id=said_safely(batch_id),  # its file's name: the sender's choice
            outcome=ack.fields.outcome.value,
            taken=ack.fields.taken,
            refused=ack.fields.refused,
            failed=failed,
        )
        return partner
