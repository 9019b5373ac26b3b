"""The application factory: the one way the service is built, by ``serve`` and by tests.

Nothing touches the database at import time. Resources live in the app's ``cleanup_ctx``,
started in order when the server starts and stopped in reverse order when it stops:
the pool (after migrating), then the event store with its wake-ups and the per-polycule
read side its commands write, then the keeper of that read side and the fan-outs (the
webhook fan-out, and the mail fan-out while mail is on; each polycule by polycule), then
the scheduler that acts when time passes, then the webhook delivery worker, then the mail
sender (only while an SMTP host is configured).

An instance's role (``Settings.role``) decides which of them start: a web instance serves
HTTP and live streams and runs none of the consumers (the keeper, the fan-outs, the
scheduler, delivery, the mail sender); a worker runs them all and serves only the probes
(anything else is 404); ``all`` does both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import aiohttp
import structlog
from aiohttp import web

from ledger.clock import SystemClock
from ledger.config import Settings
from ledger.database import (
    Availability,
    create_pool,
    migrate_database,
    warn_if_history_can_be_rewritten,
)
from ledger.domain.polycules import polycule_decider
from ledger.http.account_routes import AUTH_POLICY, AuthPolicy, accounts_context
from ledger.http.authorization import authorization_middleware
from ledger.http.bodies import body_middleware
from ledger.http.identity import authentication_middleware
from ledger.http.kept_answers import KEPT_ANSWERS, KeptAnswers
from ledger.http.keys import (
    CHECKPOINTS,
    CLOCK,
    DATABASE_AVAILABILITY,
    EVENT_STORE,
    KEYRING,
    MAIL_FANOUT,
    MAIL_SENDER,
    POOL,
    READ_SIDE,
    SCHEDULER,
    SERVICE,
    SETTINGS,
    SUPERVISOR,
    WAKEUP_HUB,
    WEBHOOK_DELIVERY,
    WEBHOOK_FANOUT,
)
from ledger.http.middleware import (
    access_log_middleware,
    client_middleware,
    error_middleware,
    request_id_middleware,
    transport_headers,
)
from ledger.http.protection import security_headers_middleware
from ledger.http.routes import add_probes, add_routes
from ledger.mail.composing import Letters
from ledger.mail.digests import Digests
from ledger.mail.fanout import MailFanout
from ledger.mail.sending import MailSender, SmtpServer
from ledger.privacy import KeyRing, load_master_key
from ledger.scheduler import Scheduler
from ledger.service import ApplicationService
from ledger.snapshots import Snapshots
from ledger.store.events import EventStore
from ledger.store.wakeups import AppendAnnouncer, AppendListenerConnection, WakeupHub
from ledger.supervisor import Supervisor
from ledger.transparency.checkpoints import Checkpoints
from ledger.transparency.signing import load_checkpoint_keys
from ledger.web.browser import browser_middleware
from ledger.web.pages import add_pages
from ledger.webhooks.delivery import DeliveryWorker
from ledger.webhooks.fanout import WebhookFanout
from ledger.webhooks.fanout_runner import FanoutRunner
from projections import read_side
from projections.keeper import ReadSideKeeper
from projections.runner import ProjectionRunner

CleanupContext = Callable[[web.Application], AsyncIterator[None]]

log = structlog.get_logger(__name__)


def create_app(
    settings: Settings,
    database_url: str,
    *,
    owner_url: str | None = None,
    apply_migrations: bool = True,
) -> web.Application:
    """Build the service, connecting as ``database_url``'s role; migrations run as
    ``owner_url``'s (default: the same), which then grants the service its role (see
    ledger/database.py). ``apply_migrations=False`` leaves the schema to another process
    (``python -m ledger migrate`` as a release step); /readyz then says when it is behind.
    """
    app = web.Application(
        client_max_size=settings.max_request_bytes,
        # Outermost first; see middleware.py for why this order.
        middlewares=[
            request_id_middleware,
            access_log_middleware,
            # The client behind a trusted proxy: its address, and whether it came over HTTPS.
            client_middleware(settings.trusted_proxies),
            security_headers_middleware,
            # A body nobody can read (a malformed form, a type other than JSON or a form) is
            # refused before anything reads it, the browser's middleware included.
            body_middleware,
            # A browser's pages and forms: HTML and redirects where the API answers JSON.
            browser_middleware,
            error_middleware,
            # Who is calling (session cookie or API token; CSRF for cookies), then whether
            # they may: ledger/auth/policy.py decides, before any view runs.
            authentication_middleware,
            authorization_middleware,
        ],
    )
    app.on_response_prepare.append(transport_headers)
    app[SETTINGS] = settings
    app[DATABASE_AVAILABILITY] = Availability()
    # Every background loop of this instance runs under it; /readyz tells operators of any
    # that keeps failing.
    app[SUPERVISOR] = Supervisor()
    app[AUTH_POLICY] = AuthPolicy.from_settings(settings)
    # Replaced before start-up by tests that need to live through months.
    app[CLOCK] = SystemClock()
    app.cleanup_ctx.append(_database(
        settings, database_url, (owner_url or database_url) if apply_migrations else None
    ))
    app.cleanup_ctx.append(_keyring(settings))
    app.cleanup_ctx.append(_checkpoints(settings))
    app.cleanup_ctx.append(accounts_context)
    # LISTEN (and the wake-ups' NOTIFY) on PostgreSQL itself: a pooler in transaction mode
    # in front of it (DATABASE_URL) carries neither.
    listen_url = settings.listen_database_url or database_url
    app.cleanup_ctx.append(_event_store(listen_url))
    if settings.role.runs_consumers:
        app.cleanup_ctx.append(_projection_runner(settings))
        app.cleanup_ctx.append(_scheduler(settings))
        app.cleanup_ctx.append(_webhook_delivery(settings, listen_url))
        app.cleanup_ctx.append(_mail_sender(settings))
        app.on_shutdown.append(_stop_claiming_webhooks)
    if settings.role.serves_http:
        add_routes(app)
        add_pages(app)
    else:
        # Watched by a load balancer or an orchestrator like any instance; nothing else.
        add_probes(app)
    return app


def _database(settings: Settings, database_url: str, migrate_as: str | None) -> CleanupContext:
    async def database(app: web.Application) -> AsyncIterator[None]:
        if migrate_as is not None:
            await migrate_database(migrate_as, database_url)
        app[POOL] = await create_pool(
            database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
            availability=app[DATABASE_AVAILABILITY],
            statement_cache_size=settings.statement_cache_size,
        )
        await warn_if_history_can_be_rewritten(app[POOL])
        yield
        # Each background loop has ended and every request is answered by now, so each
        # connection is back; one that is not (a bug) must not keep the process from ending.
        try:
            async with asyncio.timeout(settings.shutdown_timeout_seconds):
                await app[POOL].close()
        except TimeoutError:
            log.warning("pool_closed_with_connections_still_out")
            app[POOL].terminate()

    return database


def _keyring(settings: Settings) -> CleanupContext:
    async def keyring(app: web.Application) -> AsyncIterator[None]:
        master = load_master_key(
            settings.master_key.get_secret_value() if settings.master_key else None,
            data_dir=settings.data_dir,
            allow_key_file=settings.database_url is None,
        )
        app[KEYRING] = KeyRing(app[POOL], master)
        await app[KEYRING].check_master_key()
        # The read views' answers, kept per version of their polycule, opened words and all:
        # under the keyring's rule for what it keeps opened (ledger/http/kept_answers.py).
        app[KEPT_ANSWERS] = KeptAnswers(app[KEYRING])
        yield

    return keyring


def _checkpoints(settings: Settings) -> CleanupContext:
    async def checkpoints(app: web.Application) -> AsyncIterator[None]:
        keys = load_checkpoint_keys(
            settings.checkpoint_key.get_secret_value() if settings.checkpoint_key else None,
            settings.checkpoint_retired_keys,
            data_dir=settings.data_dir,
            allow_key_file=settings.database_url is None,
        )
        app[CHECKPOINTS] = Checkpoints(app[POOL], keys, app[CLOCK])
        yield

    return checkpoints


def _event_store(listen_url: str) -> CleanupContext:
    async def event_store(app: web.Application) -> AsyncIterator[None]:
        hub = WakeupHub()
        # Each on a connection of its own: NOTIFY after appends, LISTEN for other instances'.
        announcer = AppendAnnouncer(listen_url, hub)
        # The same connection hears of destroyed data keys, so erasure reaches every instance;
        # it ignores what this process's own announcer sends (those appends woke us already).
        listener = AppendListenerConnection(
            listen_url, hub, also_listen=[app[KEYRING].listen], own_announcer=announcer
        )
        announcer.start(app[SUPERVISOR])
        listener.start(app[SUPERVISOR])
        app[WAKEUP_HUB] = hub
        app[EVENT_STORE] = EventStore(app[POOL], clock=app[CLOCK].now, on_append=announcer)
        app[READ_SIDE] = read_side(app[POOL])
        app[SERVICE] = ApplicationService(
            app[EVENT_STORE], app[KEYRING], read_side=app[READ_SIDE],
            snapshots=Snapshots.of(app[POOL], polycule=polycule_decider),
        )
        yield
        await app[SERVICE].close()
        await listener.stop()
        await announcer.stop()

    return event_store


def _projection_runner(settings: Settings) -> CleanupContext:
    async def projection_runner(app: web.Application) -> AsyncIterator[None]:
        # Polycules that fell behind their streams (migrated, or parked) catch up here;
        # commands never wait for it.
        keeper = ReadSideKeeper(app[READ_SIDE], poll_seconds=settings.projection_poll_seconds)
        # The webhook and mail fan-outs (mail while it is on) follow each polycule's
        # stream on their own, on the same runner; neither is ever rebuilt (see their
        # modules).
        webhooks = WebhookFanout(app[SERVICE], app[CLOCK].now)
        fanout = FanoutRunner(
            app[POOL], webhooks, app[WAKEUP_HUB], poll_seconds=settings.projection_poll_seconds,
        )
        followers: list[tuple[ProjectionRunner, WebhookFanout | MailFanout]] = [
            (fanout, webhooks)
        ]
        if settings.mail_enabled:
            mails = MailFanout(app[SERVICE], app[CLOCK].now)
            mail = ProjectionRunner(
                app[POOL], mails, app[WAKEUP_HUB],
                events_per_polycule=settings.projection_batch_size,
                poll_seconds=settings.projection_poll_seconds,
            )
            followers.append((mail, mails))
            app[MAIL_FANOUT] = mail
        keeper.start(app[SUPERVISOR])
        for runner, _ in followers:
            runner.start(app[SUPERVISOR])
        app[WEBHOOK_FANOUT] = fanout
        yield
        for runner, projection in reversed(followers):
            await runner.stop()
            # Where each polycule stands, for the worker started after this one (a deploy).
            await projection.followed.keep_latest()
        await keeper.stop()

    return projection_runner


def _scheduler(settings: Settings) -> CleanupContext:
    async def scheduler(app: web.Application) -> AsyncIterator[None]:
        app[SCHEDULER] = Scheduler(
            app[POOL],
            app[SERVICE],
            app[CLOCK].now,
            interval_seconds=settings.scheduler_interval_seconds,
        )
        app[SCHEDULER].start(app[SUPERVISOR])
        yield
        await app[SCHEDULER].stop()

    return scheduler


def _webhook_delivery(settings: Settings, listen_url: str) -> CleanupContext:
    async def webhook_delivery(app: web.Application) -> AsyncIterator[None]:
        timeout = settings.webhook_timeout_seconds
        app[WEBHOOK_DELIVERY] = DeliveryWorker(
            app[POOL],
            app[KEYRING],
            app[CLOCK],
            allow_private=settings.webhooks_allow_private,
            request_timeout=aiohttp.ClientTimeout(total=timeout, connect=min(5.0, timeout)),
            lease=timedelta(seconds=3 * timeout),
            listen_url=listen_url,
            availability=app[DATABASE_AVAILABILITY],
        )
        app[WEBHOOK_DELIVERY].start(app[SUPERVISOR])
        yield
        await app[WEBHOOK_DELIVERY].stop(grace_seconds=0)

    return webhook_delivery


def _mail_sender(settings: Settings) -> CleanupContext:
    async def mail_sender(app: web.Application) -> AsyncIterator[None]:
        if settings.smtp_host is None or settings.public_url is None or settings.mail_from is None:
            # Mail is off: nothing is sent (choices and addresses are still kept).
            yield
            return
        app[MAIL_SENDER] = MailSender(
            app[POOL], app[KEYRING], app[CLOCK], SmtpServer.from_settings(settings),
            Letters(settings.public_url, settings.mail_from),
            Digests(app[POOL], settings.mail_digest_hour),
            poll_seconds=settings.projection_poll_seconds,
        )
        app[MAIL_SENDER].start(app[SUPERVISOR])
        yield
        # A mail cut short keeps its lease and is sent again, with the same Message-ID.
        await app[MAIL_SENDER].stop()

    return mail_sender


async def _stop_claiming_webhooks(app: web.Application) -> None:
    """As the shutdown begins (before requests in flight are waited for): deliveries in
    flight share the one time the whole shutdown is given, LEDGER_SHUTDOWN_TIMEOUT_SECONDS."""
    if WEBHOOK_DELIVERY in app:
        app[WEBHOOK_DELIVERY].begin_stopping(within=app[SETTINGS].shutdown_timeout_seconds)
