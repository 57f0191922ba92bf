"""The FTP drop over FTPS against a real server (pyftpdlib, TLS required): the certificate is checked.

The platform's certificate comes from a test CA: with that CA named
(NOTIFICATION_EXCHANGE_FTP_CA_FILE) a batch goes up and is read back; without
it, or over plain FTP, nothing is sent. A file past the reader's limit is read no further.
"""

from __future__ import annotations

import ftplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.notification.adapters.ftp_drop import FileTooLarge, FtpAccount, FtpDrop
from services.notification.domain.exchange_batch import Batch
from tests.support import certificates
from tests.support.ftp_platform import FtpPlatform, password_of

BATCH = Batch(batch_id="b1", file=b"sealed", manifest=b"{}")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpPlatform]:
    root = tmp_path_factory.mktemp("ftps")
    with FtpPlatform(root / "tree", ["440106"], tls=certificates.issue(root / "tls")) as running:
        yield running


def _account(platform: FtpPlatform, *, tls: bool = True, ca_file: Path | None = None) -> FtpAccount:
    return FtpAccount(
        "127.0.0.1", platform.port, "440106", password_of("440106"), tls=tls, ca_file=str(ca_file) if ca_file else None
    )


async def test_with_the_platforms_ca_a_batch_goes_up_and_is_read_back(platform: FtpPlatform) -> None:
    assert platform.tls is not None
    drop = FtpDrop(_account(platform, ca_file=platform.tls.ca_file))
    await drop.upload("/440106", BATCH)
    assert await drop.names("/440106") == ["b1.batch", "b1.manifest.json"]
    assert (await drop.read("/440106", ["b1.batch"], max_bytes=6))["b1.batch"] == b"sealed"
    assert (await drop.read("/440106", ["gone.batch"], max_bytes=6))["gone.batch"] is None


async def test_a_file_larger_than_its_reader_takes_is_read_no_further(platform: FtpPlatform) -> None:
    assert platform.tls is not None
    drop = FtpDrop(_account(platform, ca_file=platform.tls.ca_file))
    await drop.upload("/440106", Batch(batch_id="big", file=b"x" * 300_000, manifest=b"{}"))
    with pytest.raises(FileTooLarge, match=r"big\.batch is larger than 299999 bytes"):
        await drop.read("/440106", ["big.manifest.json", "big.batch"], max_bytes=299_999)
    assert (await drop.read("/440106", ["big.batch"], max_bytes=300_000))["big.batch"] == b"x" * 300_000


async def test_a_certificate_from_an_unknown_ca_is_refused(platform: FtpPlatform) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await FtpDrop(_account(platform)).names("/440106")


async def test_plain_ftp_is_refused_by_a_platform_that_requires_tls(platform: FtpPlatform) -> None:
    with pytest.raises(ftplib.error_perm):
        await FtpDrop(_account(platform, tls=False)).names("/440106")
