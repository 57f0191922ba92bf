"""FTP acknowledgements: what the receiving deployment did with a batch, told back to the batch's sender.

When a poller has taken a batch from its folder (every message applied, or the
batch set aside as a whole) it writes `<batch_id>.ack.json` into the sender's
folder on the platform, under a temporary name renamed when complete:

    {"format": "popflow-exchange-ack/1", "batch_id", "sender" (the district acknowledging),
     "recipient" (the batch's sender), "sha256" (the batch file's, from its manifest),
     "taken", "refused", "outcome": "taken" | "set_aside", "reason", "timestamp", "signature"}

The reason (300 characters at most) names a taken batch's refused lines by
their numbers, as many as fit (`exchange_batch.refusals_said`). When they do
not all fit, the acknowledgement is `popflow-exchange-ack/2` instead, which
adds "refused_lines": every refused line by reason (`{"malformed": "2, 4-9"}`),
as many as "refused" says; a deployment that reads only /1 sets such an
acknowledgement aside and its batch stays unsettled, where a /1 that cut lines
off would have had them counted as taken. Otherwise /1 is written, which every
version reads.

Signed like a manifest (`exchange_batch.signed_part`, the batch id as the
signed id), it carries no personal data and no message id: the sender knows
which messages it put in the batch. Readers of a folder look for manifests
(`*.manifest.json`) and acknowledgements (`*.ack.json`) apart, so one is
never taken for the other. Its name is the batch's id, the sender's choice:
a batch whose id a file of ours may not be named after (`unnameable`: outside
`[0-9A-Za-z_.-]`, or holding an identity number) is not acknowledged. Pure:
building, reading and judging.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from services.notification.domain.exchange_batch import MAX_LINES, RUNS, SetAside, lines_counted, signed_part
from shared.identity import holds_identity_number

FORMAT = "popflow-exchange-ack/1"
FORMAT_WHOLE = "popflow-exchange-ack/2"  # /1 and every refused line named (refused_lines)
FORMATS = (FORMAT, FORMAT_WHOLE)
ACK_SUFFIX = ".ack.json"
_CODE = r"^[0-9]{6}$"
_FILE_SAFE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,199}")  # a batch id we may name a file after


class AckSetAside(SetAside):
    """An acknowledgement refused (nothing changes): why, and who sent it, as far as that is known."""

    def __init__(self, reason: str, *, sender: str | None = None, partner: str | None = None) -> None:
        super().__init__(reason)
        self.sender, self.partner = sender, partner


class Outcome(StrEnum):
    TAKEN = "taken"  # every message applied (or refused one by one: `refused`)
    SET_ASIDE = "set_aside"  # the batch refused as a whole: nothing applied, `reason` says why


_Why = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_Runs = Annotated[str, StringConstraints(pattern=RUNS, max_length=80_000)]  # 10,000 lines one by one: 59,000


class AckFile(BaseModel):
    """An acknowledgement file's fields (the signature covers all the others)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = Field(pattern="^popflow-exchange-ack/[12]$", description="popflow-exchange-ack/1 or /2")
    batch_id: str = Field(min_length=1, max_length=200, description="The batch acknowledged")
    sender: str = Field(pattern=_CODE, description="The district acknowledging (the batch's recipient)")
    recipient: str = Field(pattern=_CODE, description="The district that sent the batch")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="The batch file's checksum, from its manifest")
    taken: int = Field(ge=0, le=MAX_LINES, description="Messages applied (a duplicate counts as applied)")
    refused: int = Field(ge=0, le=MAX_LINES, description="Messages refused: one by one, or all of a batch set aside")
    outcome: Outcome = Field(description="taken, or set_aside (the batch refused as a whole)")
    reason: str | None = Field(
        default=None,
        max_length=300,
        description="Why a batch was set aside, or which of a taken batch's lines were refused and why",
    )
    refused_lines: dict[_Why, _Runs] | None = Field(
        default=None,
        max_length=100,
        description="/2 only: every refused line of a taken batch by why, as ranges (`2, 4-9`), `refused` in all",
    )
    timestamp: str = Field(pattern="^[0-9]{1,12}$", description="Unix seconds, inside the signature")
    signature: str = Field(min_length=1, max_length=1000, description="v1a,<base64 Ed25519> or v1,<HMAC>")

    @model_validator(mode="after")
    def _lines_as_format_says(self) -> AckFile:
        if self.format == FORMAT:
            if self.refused_lines is not None:
                raise ValueError("refused_lines is a popflow-exchange-ack/2 field")
        elif self.outcome is not Outcome.TAKEN or not self.refused_lines:
            raise ValueError("popflow-exchange-ack/2 names the refused lines of a taken batch")
        elif lines_counted(self.refused_lines) != self.refused:
            raise ValueError("refused_lines name another number of lines than refused says")
        return self


@dataclass(frozen=True, slots=True)
class Ack:
    fields: AckFile
    signed: bytes  # what the signature covers, exactly as it was read

    @property
    def name(self) -> str:
        return self.fields.batch_id + ACK_SUFFIX


@dataclass(frozen=True, slots=True)
class SentBatch:
    """What the sender recorded of a batch it uploaded."""

    batch_id: str
    partner: str
    sha256: str
    acknowledged: bool


def unnameable(batch_id: str) -> str | None:
    """Why no acknowledgement of ours may be named `<batch_id>.ack.json`, None when one may. The id is its sender's
    choice: one with other characters than a plain file name's, or holding an identity number (18 of its digits
    with a birth date where an identity number has one), would put what it holds into a file name of ours, on a platform
    other people operate. A serial of 18 digits or more that holds none (a time and a sequence number) is named."""
    if not _FILE_SAFE.fullmatch(batch_id):
        return "its id is no file name an acknowledgement may have (letters, digits and _.- only, 200 at most)"
    if holds_identity_number(batch_id):
        return "its id holds an identity number, which no file of ours is named after"
    return None


def build_ack(
    *,
    manifest: dict[str, object],
    sender: str,
    outcome: Outcome,
    taken: int,
    refused: int,
    reason: str | None,
    timestamp: str,
    sign: Callable[[str, str, bytes], str],
    refused_lines: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    """The file name and bytes acknowledging the batch `manifest` describes; `sign` as for a batch.
    `refused_lines` (exchange_batch.said_whole), when the reason could not name every refused line: /2."""
    batch_id = str(manifest["batch_id"])
    fields: dict[str, object] = {
        "format": FORMAT_WHOLE if refused_lines else FORMAT,
        "batch_id": batch_id,
        "sender": sender,
        "recipient": str(manifest["sender"]),
        "sha256": str(manifest["sha256"]),
        "taken": taken,
        "refused": refused,
        "outcome": outcome.value,
        "reason": reason[:300] if reason else None,
        "timestamp": timestamp,
    }
    if refused_lines:
        fields["refused_lines"] = refused_lines
    fields["signature"] = sign(batch_id, timestamp, signed_part(fields))
    return batch_id + ACK_SUFFIX, json.dumps(fields, ensure_ascii=False, indent=1).encode()


def read_ack(raw: bytes) -> Ack:
    """The acknowledgement in a file, its signature not yet checked; SetAside when it is not one."""
    try:
        fields = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SetAside("acknowledgement is not JSON (truncated?)") from error
    if not isinstance(fields, dict) or fields.get("format") not in FORMATS:
        raise SetAside(f"acknowledgement is not a {FORMAT} or /2 file")
    if not fields.get("signature"):
        raise SetAside("acknowledgement is unsigned")
    try:
        ack = AckFile.model_validate(fields)
    except ValidationError as error:
        fields_wrong = ", ".join(sorted({_field(e["loc"]) or e["msg"] for e in error.errors()}))
        raise SetAside(f"acknowledgement is malformed ({fields_wrong})"[:300]) from error
    return Ack(ack, signed_part(fields))


def _field(location: tuple[int | str, ...]) -> str:
    """The field an error is in, as the acknowledgement format names it: never a partner's own key (read before
    its signature is checked, such text would reach a log line and the bureau's list)."""
    if not location:
        return ""
    return str(location[0]) if location[0] in AckFile.model_fields else "an unknown field"


def judge(ack: AckFile, sent: SentBatch | None, *, signed_by: str) -> None:
    """Whether an acknowledgement signed by partner `signed_by` may settle the batch `sent`; SetAside if not.

    Anything but the first acknowledgement of a batch we sent that partner,
    for the very file we sent, changes nothing.
    """
    if sent is None:
        raise SetAside("acknowledges a batch this deployment did not send")
    if sent.partner != signed_by:
        raise SetAside(f"acknowledged by {signed_by}, but the batch went to {sent.partner}")
    if sent.sha256 != ack.sha256:
        raise SetAside("acknowledges another file than the batch sent (checksum differs)")
    if sent.acknowledged:
        raise SetAside("batch already acknowledged (a duplicate acknowledgement changes nothing)")
