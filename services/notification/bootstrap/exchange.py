"""The city's exchange with partner deployments: our keys, the partners file, what we send, the door partners
post to, and, when a platform is configured, the poller of our folders on its FTP server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.ftp_threads import FtpThreads
from services.notification.bootstrap.clients import Clients
from services.notification.domain.set_aside_names import naming_key
from services.notification.service_layer.exchange_acks import Acknowledgements
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from services.notification.service_layer.exchange_outbound import OutboundExchange, OwnKeys
from services.notification.settings import NotificationSettings
from shared.directory import load_directory
from shared.exchange.partners import PartnerTable
from shared.exchange.partners_file import PartnersFile

# FTP's own threads, not the loop's default executor: a platform that answers slowly (each operation may take 30 s)
# held the threads the webhook sender's address look-ups wait for. Uploads to several partners' folders at once
# (one batch a folder is gathered at a time) share these; an operation's 30 s count from when it was asked for
# (ftp_drop.py), so one that waited for a thread behind stalled folders' uploads fails within its push's lease
# rather than starting late. The poll of our own folders, and the acknowledgements it writes (a batch is taken
# once its sender's is written), have a thread of their own: uploads to more than eight stalled partners' folders
# held every thread, and the poll waited behind them, what partners sent us untaken meanwhile.
FTP_THREADS = 8


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the push worker, the door and the exchange routes share: one partner table, one set of our keys."""

    partners: Callable[[], PartnerTable]  # the partners file, read again when it changes
    keys: OwnKeys
    outbound: OutboundExchange
    ftp_threads: FtpThreads  # uploads', shut down when the service stops
    poll_thread: FtpThreads  # the poll's of our folders and its acknowledgements', likewise

    def stop_ftp(self) -> None:
        """What waits for an FTP thread is cancelled; an operation under way is not waited for (daemon threads)."""
        for threads in (self.ftp_threads, self.poll_thread):
            threads.shutdown(wait=False, cancel_futures=True)


def build_exchange(settings: NotificationSettings, clients: Clients) -> Exchange:
    partners = PartnersFile(settings.partners_file).current
    ftp_threads = FtpThreads(FTP_THREADS, "ftp")  # started as used
    keys = OwnKeys(
        _plain(settings.exchange_signing_key),
        _plain(settings.exchange_sealing_key),
        _plain(settings.exchange_previous_sealing_key),
    )
    outbound = OutboundExchange(
        partners=partners,
        store=clients.exchange_store,
        keys=keys,
        served_districts=settings.served_districts,
        clock=clients.clock,
        sealed=clients.sealed,
        ftp_batch_window_s=settings.exchange_ftp_batch_window_s,
        ftp_max_batch=settings.exchange_ftp_max_batch,
        ftp_ca_file=_ca_file(settings),
        ftp_threads=ftp_threads,
    )
    poll_thread = FtpThreads(1, "ftp-poll")
    return Exchange(partners=partners, keys=keys, outbound=outbound, ftp_threads=ftp_threads, poll_thread=poll_thread)


def build_door(
    settings: NotificationSettings, clients: Clients, exchange: Exchange, *, wake: Callable[[], None]
) -> ExchangeDoor:
    """`wake` is the push worker's: a notice a partner posts is pushed at once, not at the worker's next poll."""
    return ExchangeDoor(
        partners=exchange.partners,
        store=clients.exchange_store,
        inbox=clients.inbox,
        keys=exchange.keys,
        served_districts=settings.served_districts,
        clock=clients.clock,
        directory=load_directory(),
        on_scheduled=wake,
        tolerance_s=settings.exchange_tolerance_s,
    )


def ftp_poller(
    settings: NotificationSettings, clients: Clients, exchange: Exchange, door: ExchangeDoor
) -> FtpPoller | None:
    """Our folders on the city's FTP platform, polled by one replica: partners' batches, their acknowledgements.

    None when no platform host is set: there is nothing to poll.
    """
    if not settings.exchange_ftp_host:
        return None
    acks = Acknowledgements(
        partners=exchange.partners,
        outbound=exchange.outbound,
        door=door,
        store=clients.exchange_store,
        served_districts=settings.served_districts,
        clock=clients.clock,
        max_age_s=settings.exchange_ftp_max_age_s,
        drop=lambda account: FtpDrop(account, threads=exchange.poll_thread),  # the poll's, which awaits each
    )
    return FtpPoller(
        drop=FtpDrop(_ftp_account(settings, settings.exchange_ftp_host), threads=exchange.poll_thread),
        folders=settings.exchange_ftp_folders or [f"/{code}" for code in settings.served_districts],
        door=door,
        store=clients.exchange_store,
        clock=clients.clock,
        interval_s=settings.exchange_ftp_poll_s,
        max_age_s=settings.exchange_ftp_max_age_s,
        acks=acks,
        orphan_after_s=settings.exchange_ftp_orphan_after_s,
        names_key=naming_key(exchange.keys.sealing_key),
        first_listings=clients.ftp_first_listings,
    )


def _ftp_account(settings: NotificationSettings, host: str) -> FtpAccount:
    return FtpAccount(
        host=host,
        port=settings.exchange_ftp_port,
        user=settings.exchange_ftp_user or "anonymous",
        password=_plain(settings.exchange_ftp_password) or "",
        tls=settings.exchange_ftp_tls,
        ca_file=_ca_file(settings),
    )


def _ca_file(settings: NotificationSettings) -> str | None:
    return str(settings.exchange_ftp_ca_file) if settings.exchange_ftp_ca_file else None


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None
