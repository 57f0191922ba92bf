"""Batch files in our FTP folder whose manifest never came: when one is abandoned, and whose it seems to be.

A sender uploads the batch file, then its manifest; readers look only at
manifests. A sender that stopped between the two (crashed, cut off, its
account refused the second rename) left the batch file in our folder for
ever, unread and unlisted. Once it is older than the deployment's setting
(NOTIFICATION_EXCHANGE_FTP_ORPHAN_AFTER_S, a day by default: a manifest comes
within seconds of its file) it is set aside like a refused batch. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from services.notification.domain.exchange_batch import BATCH_SUFFIX, MANIFEST_SUFFIX

ORPHAN_AFTER_S = 86_400
# a manifest that came after its batch file was set aside: the file is in set-aside/ with its own note
LATE_MANIFEST = "batch file set aside here before its manifest came (it waited too long without it): send it again"
_SENDER = re.compile(r"([0-9]{6})-")  # a batch id begins with its sender's district (exchange_ftp_outbound)


def orphans(names: list[str]) -> set[str]:
    """The batch files in a folder's listing whose manifest is not in it."""
    listed = set(names)
    return {
        n for n in names if n.endswith(BATCH_SUFFIX) and n.removesuffix(BATCH_SUFFIX) + MANIFEST_SUFFIX not in listed
    }


def abandoned(written: datetime, now: datetime, after: timedelta) -> bool:
    """Whether a batch file written at `written` has waited for its manifest longer than `after`."""
    return now - written > after


def reason(after: timedelta) -> str:
    """What the bureau reads beside an orphan set aside."""
    hours = after.total_seconds() / 3600
    waited = f"{hours:g} h" if hours >= 1 else f"{after.total_seconds():g} s"
    return f"batch file without its manifest for more than {waited} (its sender never finished the upload)"


def sender_of(name: str) -> str | None:
    """The district a batch file's name says sent it (its sender's word, unsigned); None when it says none."""
    found = _SENDER.match(name)
    return found.group(1) if found else None


def batch_key(batch_id: str, key: bytes) -> str:
    """What a batch taken or set aside is recorded by: its id (its file's name, the sender's choice, which may
    hold an identity number) digested with our names' key (domain/set_aside_names.naming_key), never as it was."""
    said = b"received batch:" + batch_id.encode("utf-8", "surrogatepass")  # apart from set-aside names' digests
    return hmac.new(key, said, hashlib.sha256).hexdigest()


def listing_key(folder: str, name: str, key: bytes) -> str:
    """What a batch file listed alone is timed by in the store: its folder and name digested with our names' key
    (the name is its sender's choice), never as they were."""
    said = b"first listed:" + f"{folder}\0{name}".encode("utf-8", "surrogatepass")
    return hmac.new(key, said, hashlib.sha256).hexdigest()
