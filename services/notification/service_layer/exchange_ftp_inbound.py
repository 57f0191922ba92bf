"""The inbound half of the FTP exchange: the poller that reads partners' batches and acknowledgements in our folders.

`FtpPoller` (one replica polls): every `interval_s`, each of our folders is
listed; a batch whose manifest is there is read, checked as a whole (signed by
a configured partner, file matching its checksum, opening with our key), and
each message is applied through the https door's path (idempotent by message
id). A line that is not a message (exchange_batch) is refused alone: the
others are taken, and the batch is listed for the bureau with its refused
lines' numbers. Then both files move to `done/`. A batch refused as a whole
moves to `set-aside/` with a `<batch>.reason.txt`, and is recorded for
GET /v1/exchange/partners. Either way the sender is told with an
acknowledgement in its folder, written before the batch moves. Our folders
also receive acknowledgements of our own batches (`*.ack.json`, never taken
for a manifest): settled once, or set aside like a bad batch. A passing
failure (FTP or database down) leaves the files where they are for the next poll.
A batch file whose manifest has not come after `orphan_after_s` (its sender never
finished the upload) is set aside in the same way, no one told (ftp_orphans.py);
unless its batch was taken or set aside here (recorded, past a restart), its
manifest moved and its own move failed: it goes where its manifest went.
A sender whose folder does not take our acknowledgement, and a folder of ours
that does not list, are held back (ftp_holds.py): not read again until their
wait passes, 5 s doubling to 5 min, the others read as usual.

A file's name is the sender's choice, as a message's id is: log lines quote
them scrubbed, escaped and cut (shared.logging.said_safely). A batch whose id
no acknowledgement may be named after (an identity number in it: ours would
carry it) is taken or set aside as any other, its sender not told; a taken
one is listed for the bureau too, under its id's safe form.

Batches going the other way are exchange_ftp_outbound.py's.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.ftp_drop import DONE, FTP_ERRORS, SET_ASIDE, FileTooLarge, FtpDrop
from services.notification.adapters.ftp_first_listings import FirstListings
from services.notification.adapters.tables import ExchangeSetAside
from services.notification.domain.exchange_ack import ACK_SUFFIX, AckSetAside, Outcome, unnameable
from services.notification.domain.exchange_batch import (
    BATCH_SUFFIX,
    MANIFEST_SUFFIX,
    MAX_FILE_BYTES,
    MAX_SMALL_FILE_BYTES,
    OpenedBatch,
    SetAside,
    check_size,
    not_read_said,
    read_manifest,
    refused_whole,
    said_whole,
)
from services.notification.domain.orphan_batches import LATE_MANIFEST, ORPHAN_AFTER_S, batch_key, orphans, sender_of
from services.notification.domain.orphan_batches import reason as orphan_reason
from services.notification.domain.set_aside_names import naming_key, set_aside_names
from services.notification.service_layer.exchange_acks import AckHeld, Acknowledgements
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.ftp_holds import Holds
from services.notification.service_layer.ftp_moves import Moves
from services.notification.service_layer.ftp_orphans import Orphans
from shared.clock import Clock
from shared.db.errors import is_unavailable
from shared.exchange.partners import Partner
from shared.http.problems import ProblemError
from shared.logging import said_safely

log = structlog.get_logger(__name__)

UNTOLD = "taken (its files in done/), its sender not told"  # a taken batch no acknowledgement may name


class FtpPoller:
    def __init__(
        self,
        *,
        drop: FtpDrop,
        folders: list[str],
        door: ExchangeDoor,
        store: ExchangeStore,
        clock: Clock,
        interval_s: float,
        max_age_s: int,
        acks: Acknowledgements | None = None,
        orphan_after_s: int = ORPHAN_AFTER_S,
        names_key: bytes | None = None,
        first_listings: FirstListings | None = None,
    ) -> None:
        """`names_key`: what tells apart in set-aside/ and its list the files whose names said safely are one
        (domain/set_aside_names.py); None, a key of this process's own. `first_listings`: where orphans' first
        listings outlast a restart (ftp_orphans.py); None, in memory alone."""
        self._drop, self._folders, self._door, self._store = drop, folders, door, store
        self._clock, self._interval_s, self._max_age_s = clock, interval_s, max_age_s
        self._acks = acks
        self._names_key = names_key or naming_key(None)
        self._moves = Moves(drop)  # files dealt with whose move failed: only moved at the next poll
        # batch files whose manifest never came
        self._orphans = Orphans(drop, timedelta(seconds=orphan_after_s), listings=first_listings, key=self._names_key)
        self._holds = Holds(drop, acks)  # our folders that did not list, batches whose sender's folder did not
        # take our acknowledgement: not read again before their wait has passed

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as error:  # the platform, the store, or a fault: the poller lives on
                log.warning("ftp poll failed; trying again", error=type(error).__name__)
            await asyncio.sleep(self._interval_s)

    async def poll_once(self) -> int:
        """Take every complete batch and acknowledgement in our folders; returns how many were taken or set aside."""
        async with self._drop.session():  # one login for the poll, not one for each file read or moved
            return await self._poll_folders()

    async def _poll_folders(self) -> int:
        taken, now = 0, self._clock.now()
        for folder in self._folders:
            names = await self._holds.listed(folder, now)
            listed, alone = set(names), orphans(names)  # alone: batch files whose manifest is not there
            for name in names:
                if self._holds.waits(folder, name, now):
                    continue
                try:
                    if self._moves.pending(folder, name):
                        if not await self._moves.again(folder, name, listed):
                            continue  # moved with the file of its batch listed first
                    elif name.endswith(MANIFEST_SUFFIX):
                        batch_id = name.removesuffix(MANIFEST_SUFFIX)
                        await self._take(folder, batch_id)
                        # its batch file, listed alone before its manifest came, was timed as an orphan: dealt
                        # with now (taken or set aside), a name used again starts anew
                        await self._orphans.gone(folder, batch_id + BATCH_SUFFIX)
                    elif name.endswith(ACK_SUFFIX) and self._acks is not None:
                        await self._take_ack(self._acks, folder, name.removesuffix(ACK_SUFFIX))
                    elif name in alone and await self._orphans.abandoned(folder, name, now):
                        await self._orphan(folder, name)
                    else:
                        continue
                except AckHeld as held:  # said by the acknowledgements, once a wait
                    self._holds.hold(folder, name, held.partner)
                    continue
                except Exception as error:
                    if not isinstance(error, FTP_ERRORS) and is_unavailable(error):
                        raise  # the store is down: every file would fail the same way; the next poll tries all
                    # a sender's folder that does not answer, say: this file waits (it is taken again,
                    # as duplicates, at the next poll); the files after it do not
                    log.warning("ftp file left for the next poll", file=said_safely(name), error=type(error).__name__)
                    continue
                self._holds.done(folder, name)
                taken += 1
        return taken

    async def _take(self, folder: str, batch_id: str) -> None:
        """One batch in `folder`: checked whole (or set aside whole), its messages applied, its sender told, then
        moved to done/."""
        manifest_name, file_name = batch_id + MANIFEST_SUFFIX, batch_id + BATCH_SUFFIX
        try:
            raw = await self._read(folder, manifest_name, max_bytes=MAX_SMALL_FILE_BYTES)
        except FileTooLarge as large:  # read no further; its sender is not told (the manifest did not read)
            await self._received(batch_id, Outcome.SET_ASIDE)
            await self._set_aside(folder, [manifest_name, file_name], batch_id, str(large), None, None)
            return
        if raw is None:
            return  # taken by someone else meanwhile
        manifest: dict[str, object] = {}
        partner = None
        try:
            manifest = read_manifest(raw)
            partner = self._signer(manifest, file_name)
            if self._holds.sender_waits(partner.name, self._clock.now()):
                raise AckHeld(partner.name)  # its sender's folder would not take the acknowledgement yet
            opened = await self._open(folder, file_name, manifest)
        except SetAside as refusal:
            await self._set_aside_whole(folder, batch_id, manifest, partner, refusal)
            return
        refusals = await self._apply_each(partner, opened)
        if self._acks is not None:  # before the move: a poll tried again takes the batch again, and tells again
            await self._tell_taken(self._acks, batch_id, manifest, opened, refusals)
        if opened.malformed:  # for the bureau to take up with the sender; once, though a poll may take it again
            await self._list_taken(batch_id, manifest, partner, not_read_said(opened))
        if self._acks is not None and (why := unnameable(batch_id)):  # its sender was not told: the bureau is
            await self._list_taken(batch_id, manifest, partner, f"{UNTOLD}: {why}")
        await self._received(batch_id, Outcome.TAKEN)
        await self._moves.move(folder, [manifest_name, file_name], DONE)
        log.info(
            "ftp batch taken",
            partner=partner.name,
            batch_id=said_safely(batch_id),
            count=len(opened.messages),
            malformed=len(opened.malformed),
            refused=len(refusals),
        )

    async def _read(self, folder: str, name: str, *, max_bytes: int) -> bytes | None:
        """One file's bytes; None when it is gone (taken by someone else meanwhile)."""
        return (await self._drop.read(folder, [name], max_bytes=max_bytes))[name]

    def _signer(self, manifest: dict[str, object], file_name: str) -> Partner:
        """The configured partner that signed a manifest naming this batch file; SetAside otherwise."""
        if manifest["file"] != file_name:
            raise SetAside("manifest names another batch file")
        return self._door.batch_sender(manifest, max_age_s=self._max_age_s)

    async def _open(self, folder: str, file_name: str, manifest: dict[str, object]) -> OpenedBatch:
        """The batch file its signed manifest describes, read and opened with our key; SetAside otherwise."""
        check_size(manifest)  # before the file is read: what is refused is not downloaded
        try:
            file = await self._read(folder, file_name, max_bytes=MAX_FILE_BYTES)
        except FileTooLarge as large:  # larger than its signed manifest says: read no further
            raise SetAside(str(large)) from large
        if file is None:
            raise SetAside(await self._missing(file_name))
        return self._door.open_batch(manifest, file)

    async def _missing(self, file_name: str) -> str:
        """Why a manifest's batch file is not beside it: set aside here already, its manifest late, or not known."""
        if await self._store.was_set_aside(set_aside_names(file_name, self._names_key).listed):
            return LATE_MANIFEST
        return "batch file missing beside its manifest"

    async def _set_aside_whole(
        self, folder: str, batch_id: str, manifest: dict[str, object], partner: Partner | None, refusal: SetAside
    ) -> None:
        """A batch refused as a whole: its sender told, when its manifest read, then both files set aside."""
        if self._acks is not None and manifest:  # a manifest that reads names whom to tell
            await self._acks.tell_sender(
                batch_id, manifest, outcome=Outcome.SET_ASIDE, refused=refused_whole(manifest), reason=str(refusal)
            )
        names = [batch_id + MANIFEST_SUFFIX, batch_id + BATCH_SUFFIX]
        name = partner.name if partner else None
        await self._received(batch_id, Outcome.SET_ASIDE)
        await self._set_aside(folder, names, batch_id, str(refusal), manifest.get("sender"), name)

    async def _received(self, batch_id: str, outcome: Outcome) -> None:
        """What became of the batch, kept past a restart: its batch file, should it stay behind alone (its move
        failed half-way), then goes where its manifest went (_orphan), not set aside as never finished."""
        await self._store.batch_received(batch_key(batch_id, self._names_key), outcome, now=self._clock.now())

    async def _apply_each(self, partner: Partner, opened: OpenedBatch) -> list[tuple[int, str]]:
        """Each message through the door, one refused alone; returns every refused line, malformed ones too,
        by line number."""
        refusals = list(opened.malformed)
        for number, message in opened.messages:
            try:
                await self._door.apply(partner, message)
            except ProblemError as problem:  # one message refused (answered twice, unknown notice): logged
                refusals.append((number, f"refused ({problem.status})"))
                log.warning("ftp message refused", message_id=said_safely(message.message_id), status=problem.status)
            except Exception as error:
                if is_unavailable(error):
                    raise  # the store's moment, not the message's: the batch is taken again at the next poll
                # a fault no retry mends: the message is refused, so its sender hears of it and the batch
                # behind it is not held up for ever (a batch taken again would meet the same fault)
                refusals.append((number, f"refused ({type(error).__name__})"))
                log.error(
                    "ftp message could not be applied",
                    message_id=said_safely(message.message_id),  # the sender's choice, as a file name is
                    error=type(error).__name__,
                )
        refusals.sort()
        return refusals

    async def _tell_taken(
        self,
        acks: Acknowledgements,
        batch_id: str,
        manifest: dict[str, object],
        opened: OpenedBatch,
        refusals: list[tuple[int, str]],
    ) -> None:
        """The sender's acknowledgement of a taken batch: how many lines were taken, and which were refused why."""
        reason, whole = said_whole(refusals) if refusals else (None, None)
        taken = len(opened.messages) + len(opened.malformed) - len(refusals)
        await acks.tell_sender(
            batch_id,
            manifest,
            outcome=Outcome.TAKEN,
            taken=taken,
            refused=len(refusals),
            reason=reason,
            refused_lines=whole,
        )

    async def _list_taken(self, batch_id: str, manifest: dict[str, object], partner: Partner, reason: str) -> None:
        """A taken batch with lines that did not read, or whose sender could not be told, listed for the bureau
        (once: a poll may take it again), under its safe name as a batch set aside is: its id is its file's name,
        its sender's choice."""
        await self._store.set_aside_once(
            ExchangeSetAside(
                file=set_aside_names(batch_id, self._names_key).listed,
                sender_code=str(manifest.get("sender"))[:12],
                partner=partner.name,
                reason=reason,
                set_aside_at=self._clock.now(),
            )
        )

    async def _orphan(self, folder: str, name: str) -> None:
        """A batch file listed alone for longer than an orphan waits: where its manifest went, when its batch was
        taken or set aside here (the file's own move failed, and the poller, restarted, no longer knew it: it was
        set aside a day later as never finished, its messages applied); else set aside as never finished."""
        outcome = await self._store.received_outcome(batch_key(name.removesuffix(BATCH_SUFFIX), self._names_key))
        if outcome is None:
            await self._set_aside_orphan(folder, name)
        else:  # not listed again, no note: its manifest's move wrote the batch's (set-aside/<batch>.reason.txt)
            await self._moves.move(folder, [name], DONE if outcome is Outcome.TAKEN else SET_ASIDE)
            log.info("ftp batch file moved after its batch", file=said_safely(name), outcome=outcome.value)
        await self._orphans.gone(folder, name)

    async def _set_aside_orphan(self, folder: str, name: str) -> None:
        """A batch file whose manifest never came, set aside as a refused batch is; no one is told (no signed word
        says who sent it)."""
        why, sender = orphan_reason(self._orphans.after), sender_of(name)
        # its note is <batch>.batch.reason.txt: the manifest, should it come, is set aside with <batch>.reason.txt
        await self._set_aside(folder, [name], name, why, sender, None)

    async def _take_ack(self, acks: Acknowledgements, folder: str, batch_id: str) -> None:
        """An acknowledgement of a batch we sent: settled once, or set aside with the reason (nothing changes)."""
        name = batch_id + ACK_SUFFIX
        try:
            raw = await self._read(folder, name, max_bytes=MAX_SMALL_FILE_BYTES)
        except FileTooLarge as large:
            await self._set_aside(folder, [name], batch_id + ".ack", str(large), None, None, listed=name)
            return
        if raw is None:
            return  # taken by someone else meanwhile
        try:
            await acks.settle(batch_id, raw)
        except AckSetAside as refusal:
            stem, why = batch_id + ".ack", str(refusal)
            await self._set_aside(folder, [name], stem, why, refusal.sender, refusal.partner, listed=name)
            return
        await self._moves.move(folder, [name], DONE)

    async def _set_aside(
        self,
        folder: str,
        names: list[str],
        stem: str,
        reason: str,
        sender: object,
        partner: str | None,
        *,
        listed: str | None = None,
    ) -> None:
        """`names` into set-aside/ with `<stem>.reason.txt` beside them, and listed for the bureau (as `stem`,
        a batch's id, unless `listed` says otherwise). A name is whatever its writer chose (an identity number, a
        terminal's escape): the list, the note's text and name, and the log keep its safe form
        (shared.logging.said_safely), told apart from another's by a keyed digest (domain/set_aside_names.py)."""
        named, why = set_aside_names(stem, self._names_key, listed=listed), said_safely(reason, 300)
        note = (named.note, (why + "\n").encode())
        await self._store.set_aside(  # listed first: a move that fails is tried again alone (Moves), not listed again
            ExchangeSetAside(
                file=named.listed,
                sender_code=str(sender)[:12] if sender else None,
                partner=partner,
                reason=why,
                set_aside_at=self._clock.now(),
            )
        )
        await self._moves.move(folder, names, SET_ASIDE, note=note)
        log.warning("ftp file set aside", file=named.logged, reason=why)
