"""What else lies in our folders on the FTP platform, and a folder that is not there, stop nothing else.

The same two deployments as tests/integration/test_ftp_acknowledgements.py (real pyftpdlib, real PostgreSQL):
Baiyun uploads its forward into Tianhe's folder, and Tianhe's poller is expected to take it whatever else it
meets on the way: another folder of its own that does not answer, another system's file whose name is not
UTF-8, a manifest whose signed timestamp is no moment.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator

import pytest

from services.notification.domain.exchange_batch import read_manifest, signed_part
from services.notification.domain.exchange_crypto import sign_ed25519
from services.notification.service_layer import exchange_ftp_inbound, ftp_orphans
from tests.integration.test_ftp_acknowledgements import (
    FORWARD_ID,
    KEYS,
    Side,
    _emptied,
    _one,
    _send_forward,
    _signed_again,
    platform,
    sides,
)
from tests.support.ftp_platform import FtpPlatform
from tests.support.logs import logged_by
from tests.support.records import id_number

__all__ = ["platform", "sides"]  # the fixtures, used by name


@pytest.fixture
def raw_names(platform: FtpPlatform) -> Iterator[None]:
    """The platform lists names as the file system holds them, as vsftpd does, not made UTF-8 with `?`."""
    handler = platform._server.handler
    handler.unicode_errors = "surrogateescape"
    try:
        yield
    finally:
        del handler.unicode_errors


async def test_a_folder_of_ours_that_does_not_answer_holds_back_no_other_folder(
    sides: dict[str, Side], platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment serving several districts polls a folder each; one not (yet) on the platform ended the
    whole poll at its listing, so the folders after it were never read."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    monkeypatch.setattr(tianhe.poller, "_folders", ["/440104", "/440106"])  # 440104's folder was never made

    assert await tianhe.poller.poll_once() == 1
    assert await tianhe.inbox.get(FORWARD_ID) is not None
    assert list(platform.path("440106").glob("*.manifest.json")) == []


async def test_another_systems_file_whose_name_is_not_utf8_stops_no_batch(
    sides: dict[str, Side], platform: FtpPlatform, raw_names: None
) -> None:
    """Other systems share the platform's folders (docs/exchange.md, "Adopting an existing FTP platform"); one
    that names its files in GBK made every listing of the folder fail, so no batch in it was ever taken."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    folder = os.fsencode(platform.path("440106"))
    os.close(os.open(folder + "/流动人口清查.xls".encode("gbk"), os.O_CREAT | os.O_WRONLY))
    await _send_forward(baiyun)

    assert await tianhe.poller.poll_once() == 1
    assert await tianhe.inbox.get(FORWARD_ID) is not None
    assert "流动人口清查.xls".encode("gbk") in os.listdir(folder)  # left alone
    os.unlink(folder + "/流动人口清查.xls".encode("gbk"))


async def test_a_manifest_whose_timestamp_is_no_moment_is_set_aside_not_read_at_every_poll(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """A timestamp of hundreds of digits is too large to compare with the clock: the poll met an OverflowError,
    left the files where they were, and met it again at every poll, the sender never told."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    manifest_file = _one(platform.path("440106"), "*.manifest.json")
    fields = {**read_manifest(manifest_file.read_bytes()), "timestamp": "1" + "0" * 400}
    sign = functools.partial(sign_ed25519, KEYS["440111"]["signing_key"])
    fields["signature"] = sign(str(fields["batch_id"]), str(fields["timestamp"]), signed_part(fields))
    manifest_file.write_text(json.dumps(fields))

    assert await tianhe.poller.poll_once() == 1
    assert not manifest_file.exists()
    assert (platform.path("440106", "set-aside") / manifest_file.name).exists()
    assert "signature does not verify" in (await tianhe.set_aside())[str(fields["batch_id"])]
    ack = json.loads(_one(platform.path("440111"), "*.ack.json").read_bytes())
    assert ack["outcome"] == "set_aside"  # its sender is told, and Baiyun's bureau can send it again


async def test_a_manifest_that_is_no_unicode_text_is_set_aside_not_read_at_every_poll(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """JSON may escape half a surrogate pair (`\\ud800`), which no UTF-8 can write: the manifest read, but its
    signed part could not be made, nor its reason written; the poll met a UnicodeEncodeError at every turn and
    left the files where they were, never listed for the bureau."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    manifest_file = _one(platform.path("440106"), "*.manifest.json")
    fields = read_manifest(manifest_file.read_bytes())
    manifest_file.write_text(json.dumps({**fields, "note": "\ud800"}))  # ASCII on disk: the escape

    assert await tianhe.poller.poll_once() == 1
    assert not manifest_file.exists()
    assert (platform.path("440106", "set-aside") / manifest_file.name).exists()
    assert "not UTF-8" in (await tianhe.set_aside())[manifest_file.name.removesuffix(".manifest.json")]


async def test_a_manifest_naming_no_district_as_its_sender_is_set_aside_without_repeating_what_it_says(
    sides: dict[str, Side],
    platform: FtpPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A manifest's sender and recipient are read before its signature is checked, by whoever wrote the file
    (another system on the platform, anyone with an account there): the reason quoted them as they were, into
    the log line and the bureau's list, a name and an identity number among them."""
    tianhe = sides["440106"]
    _emptied(platform)
    person = f"张三 {id_number(sequence=7)}"
    batch = "440111-440106-20270301T020000-0123456789ab"
    fields = {
        "format": "popflow-exchange-batch/1",
        "batch_id": batch,
        "sender": person,
        "recipient": person,
        "file": batch + ".batch",
        "count": 1,
        "sha256": "0" * 64,
        "timestamp": "1803952800",
        "signature": "v1a,AAAA",
    }
    platform.path("440106", batch + ".manifest.json").write_text(json.dumps(fields, ensure_ascii=False))

    with logged_by(monkeypatch, ftp_orphans, exchange_ftp_inbound) as logs:
        assert await tianhe.poller.poll_once() == 1
    assert (platform.path("440106", "set-aside") / (batch + ".manifest.json")).exists()
    reason = (await tianhe.set_aside())[batch]
    assert "district code" in reason
    written = reason + platform.path("440106", "set-aside", batch + ".reason.txt").read_text() + repr(logs)
    assert id_number(sequence=7) not in written
    assert "张三" not in written


@pytest.fixture
def no_renames_for_tianhe(platform: FtpPlatform) -> Iterator[Callable[[], None]]:
    """Tianhe's account may read and write its folder but not rename there (done/ out of reach) until the
    callable it gives is called."""
    overrides = platform._server.handler.authorizer.user_table["440106"]["operms"]
    folder = os.path.normcase(os.path.realpath(platform.path("440106")))
    platform._server.handler.authorizer.override_perm("440106", folder, "elradmwMT", recursive=True)
    try:
        yield lambda: overrides.pop(folder, None)
    finally:
        overrides.pop(folder, None)


async def test_a_taken_batch_that_cannot_be_moved_is_not_taken_and_acknowledged_again_at_every_poll(
    sides: dict[str, Side],
    platform: FtpPlatform,
    no_renames_for_tianhe: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused move into done/ was taken for a file an earlier poll had moved, and said nothing: the batch
    stayed, and every poll downloaded it, applied it again and wrote its sender another acknowledgement, which
    the sender set aside and listed for its bureau, a row every five seconds."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)

    with logged_by(monkeypatch, ftp_orphans, exchange_ftp_inbound) as logs:
        for _ in range(3):
            await tianhe.poller.poll_once()
            await baiyun.poller.poll_once()  # settles the first acknowledgement, sets aside any other
    assert await tianhe.inbox.get(FORWARD_ID) is not None
    assert await baiyun.set_aside() == {}  # one acknowledgement, no duplicates
    assert len(list(platform.path("440111", "done").glob("*.ack.json"))) == 1
    assert len([e for e in logs if e["event"] == "ftp file left for the next poll"]) == 3  # said at every poll
    manifest = _one(platform.path("440106"), "*.manifest.json")  # still there: nothing could move it

    no_renames_for_tianhe()  # the account fixed on the platform
    assert await tianhe.poller.poll_once() == 1  # moved now, not taken again
    assert (platform.path("440106", "done") / manifest.name).exists()
    await baiyun.poller.poll_once()
    assert await baiyun.set_aside() == {}


async def test_a_file_name_is_logged_scrubbed_escaped_and_cut(
    sides: dict[str, Side], platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name is whatever its writer chose: it was logged as it was, an identity number, a terminal's escape
    sequence, a character that turns the line's text around and two hundred more characters with it."""
    tianhe = sides["440106"]
    _emptied(platform)
    stem = f"\x1b[2J{id_number(sequence=9)}\u202e" + "x" * 200
    platform.path("440106", stem + ".manifest.json").write_text("not json")

    with logged_by(monkeypatch, ftp_orphans, exchange_ftp_inbound) as logs:
        assert await tianhe.poller.poll_once() == 1
    [said] = [e for e in logs if e["event"] == "ftp file set aside"]
    assert said["file"].startswith("\\x1b[2J[id-redacted]\\u202exxx")
    assert len(said["file"]) == 120
    assert (platform.path("440106", "set-aside") / (stem + ".manifest.json")).exists()  # the file as it was
    assert id_number(sequence=9) not in repr(logs)
    assert not [v for e in logs for v in e.values() if "\x1b" in str(v) or "\u202e" in str(v)]


async def test_a_taken_batch_named_with_personal_data_is_listed_for_its_lines_not_read_in_its_safe_form(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """A batch's id is its file's name, its sender's choice: listed for its lines that did not read, it was kept in
    our store as it was, where a set-aside file's name is kept in its safe form."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    person = id_number(sequence=31)
    # signed by Baiyun's key: its word, whatever it named the batch
    _signed_again(
        platform, lambda forward: [forward, b'{"type": "census-v2"}'], batch_id=f"440111-440106-{person}-张三"
    )

    assert await tianhe.poller.poll_once() == 1
    assert await tianhe.inbox.get(FORWARD_ID) is not None
    [(file, reason)] = (await tianhe.set_aside()).items()
    assert reason.startswith("1 of 2 lines not read")
    assert file.startswith("440111-440106-[id-redacted]-[text-redacted]")
    assert person not in file
    assert "张三" not in file
