"""The sender: takes due mail from the outbox and hands it to the configured SMTP server.

* **At least once.** A row is claimed under a lease (ledger/mail/outbox.py) and marked sent
  only once the server has accepted the message. A sender that dies in between leaves the
  row to be sent again when the lease runs out, with the same Message-ID, so the resend is
  recognisable. Stopped and started normally, nothing is sent twice.
* **Nothing lost while the server is away.** A connection refused, a time-out, a 4xx
  answer: the row stays pending and is tried again after a pause that grows from
  5 seconds up to an hour (``retry_delay``), for as long as three days; then it is failed.
  A server that refuses the message itself for good (5xx to the recipient or the data)
  fails it at once: sending it again would be refused again.
* **Still wanted?** What a row needs is read when its turn comes: a notice to a member who
  has since turned that kind off, lost their address or been erased is dropped unsent; a
  confirmation whose link was replaced by a newer one likewise.
* **Never words in logs.** The log names mails by id and failures by kind; never an
  address, nor a server's answer (it may quote the address).

Each pass also makes the daily digests when their hour has come (ledger/mail/digests.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
import asyncpg
import structlog

from ledger.clock import Clock
from ledger.config import Settings
from ledger.mail import outbox
from ledger.mail.addresses import link_token_hash
from ledger.mail.composing import Letters
from ledger.mail.digests import Digests
from ledger.mail.kinds import choice_of
from ledger.privacy import ERASED, KeyRing, SealBroken, UnknownDataKey
from ledger.supervisor import Supervisor

log = structlog.get_logger(__name__)

LOOP_NAME = "mail-delivery"
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=3)
# One SMTP command's time-out; a claimed row's lease outlasts a whole conversation.
SMTP_TIMEOUT_SECONDS = 30.0
LEASE = timedelta(minutes=5)
BATCH = 20

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts: 5 s, 15 s, 45 s, … up to an hour."""
    factor: int = 3 ** min(max(attempts - 1, 0), 8)  # 5 s x 3^8 is past the hour already
    return min(FIRST_RETRY * factor, LONGEST_RETRY)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: str  # none, starttls, tls
    username: str | None = None
    password: str | None = None
    timeout: float = SMTP_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpServer:
        if settings.smtp_host is None:
            raise ValueError("mail is off: no SMTP host is configured")
        return cls(
            settings.smtp_host, settings.smtp_port_in_use, settings.smtp_tls,
            settings.smtp_username,
            settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host, port=self.port, username=self.username,
            password=self.password, timeout=self.timeout,
            use_tls=self.tls == "tls", start_tls=self.tls == "starttls",
        )


class _Unwanted(Exception):
    """The row is no longer to be sent (see the module's text)."""


class MailSender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: KeyRing,
        clock: Clock,
        server: SmtpServer,
        letters: Letters,
        digests: Digests,
        *,
        poll_seconds: float = 1.0,
        batch: int = BATCH,
        lease: timedelta = LEASE,
    ) -> None:
        if lease.total_seconds() <= server.timeout * 4:
            # A conversation is connect, MAIL, RCPT and DATA at least: the lease must
            # outlast them, or a second sender could take a mail still being sent.
            raise ValueError("the lease must outlast an SMTP conversation")
        self._pool = pool
        self._keyring = keyring
        self._clock = clock
        self._server = server
        self._letters = letters
        self._digests = digests
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._lease = lease
        self._supervisor: Supervisor | None = None

    def start(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        supervisor.run(LOOP_NAME, self._run)

    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop(LOOP_NAME)

    async def send_due(self) -> int:
        """One pass: make the digests whose hour has come, then claim what is due (up to a
        batch) and send it over one SMTP connection. How many rows were attempted."""
        now = self._clock.now()
        await self._digests.make_due(now)
        claims = await outbox.claim(self._pool, now, now + self._lease, self._batch)
        smtp: aiosmtplib.SMTP | None = None
        try:
            for claimed in claims:
                smtp = await self._attempt(claimed, smtp)
        finally:
            if smtp is not None:
                await _close(smtp)
        return len(claims)

    async def _run(self) -> None:
        while True:
            try:
                attempted = await self.send_due()
            except _DB_ERRORS as error:
                # Policy: a claimed row keeps its lease and is taken again once it runs out.
                log.error("mail_pass_failed", error=type(error).__name__)
                attempted = 0
            if attempted < self._batch:
                await asyncio.sleep(self._poll_seconds)

    async def _attempt(
        self, claimed: outbox.Claim, smtp: aiosmtplib.SMTP | None
    ) -> aiosmtplib.SMTP | None:
        """Send one row; the connection to go on with (None once it broke)."""
        try:
            message = await self._compose(claimed)
        except _Unwanted:
            await outbox.settle(self._pool, claimed, "dropped", None)
            return smtp
        except (SealBroken, UnknownDataKey, ValueError) as error:
            log.error("mail_unreadable", mail_id=str(claimed.mail_id), error=type(error).__name__)
            await outbox.settle(self._pool, claimed, "failed", "unreadable")
            return smtp
        try:
            if smtp is None:
                smtp = self._server.client()
                await smtp.connect()
            await smtp.send_message(message)
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPDataError) as refused:
            if _for_good(refused):
                # Refused for good: sending it again would be refused again.
                log.warning("mail_refused", mail_id=str(claimed.mail_id),
                            error=type(refused).__name__)
                await outbox.settle(self._pool, claimed, "failed", "refused by the server")
                return smtp
            await self._try_later(claimed, refused)
            return smtp
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            await self._try_later(claimed, error)
            if smtp is not None:
                await _close(smtp)
            return None
        await outbox.mark_sent(self._pool, claimed, self._clock.now())
        log.info("mail_sent", mail_id=str(claimed.mail_id), what=claimed.what)
        return smtp

    async def _try_later(self, claimed: outbox.Claim, error: BaseException) -> None:
        now = self._clock.now()
        kind = type(error).__name__
        if now - claimed.created_at >= GIVE_UP_AFTER:
            log.warning("mail_given_up", mail_id=str(claimed.mail_id), error=kind)
            await outbox.settle(self._pool, claimed, "failed", kind)
            return
        wait = retry_delay(claimed.attempts)
        log.info("mail_attempt_failed", mail_id=str(claimed.mail_id), error=kind,
                 attempt=claimed.attempts, retry_in_seconds=wait.total_seconds())
        await outbox.retry_at(self._pool, claimed, now + wait, kind)

    async def _compose(self, claimed: outbox.Claim) -> EmailMessage:
        recipient = await outbox.recipient(self._pool, claimed.account_id)
        if recipient is None:
            raise _Unwanted
        address = await self._opened(recipient.sealed_address)
        if claimed.what == "confirmation":
            token = await self._opened(claimed.sealed_token)
            expires_at = recipient.confirmation_expires_at
            if (
                recipient.confirmation_hash != link_token_hash(token)
                or expires_at is None or expires_at <= self._clock.now()
            ):
                raise _Unwanted  # used, expired, or replaced by a newer link
            return self._letters.confirmation(claimed.mail_id, address, token, claimed.created_at)
        if recipient.confirmed_at is None:
            raise _Unwanted
        unsubscribe = await self._opened(recipient.sealed_unsubscribe)
        chosen = dict(recipient.choices)
        if claimed.what == "notice":
            if claimed.kind is None or claimed.link is None:
                raise ValueError("a notice without its kind or link")
            if choice_of(claimed.kind, chosen) == "never":
                raise _Unwanted
            return self._letters.notice(
                claimed.mail_id, address, claimed.kind, claimed.link, unsubscribe,
                claimed.created_at,
            )
        items = [
            (kind, link) for kind, link in await outbox.digest_items(self._pool, claimed.mail_id)
            if choice_of(kind, chosen) != "never"
        ]
        if not items:
            raise _Unwanted
        return self._letters.digest(
            claimed.mail_id, address, items, unsubscribe, claimed.created_at
        )

    async def _opened(self, sealed: object) -> str:
        if not isinstance(sealed, dict):
            raise ValueError("not a sealed text")
        text = await self._keyring.open_sealed(sealed)
        if text == ERASED:
            raise _Unwanted  # the member was erased
        return text


def _for_good(refused: aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPDataError) -> bool:
    """A 5xx answer: permanent (RFC 5321); a 4xx one means "not now"."""
    if isinstance(refused, aiosmtplib.SMTPRecipientsRefused):
        return all(recipient.code >= 500 for recipient in refused.recipients)
    return refused.code >= 500


async def _close(smtp: aiosmtplib.SMTP) -> None:
    """Say goodbye if the server still listens; a connection that broke is just closed."""
    if smtp.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await smtp.quit()
    smtp.close()
