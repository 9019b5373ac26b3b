"""What a mail says — and what it never says.

A mail passes through servers nobody in the polycule chose (the sender's relay, the
recipient's provider, their backups and filters) and rests in inboxes for years. So no
mail carries anyone's words: no name of a person, not even the polycule's name, no title,
no agreement text. A notice says "Something in one of your polycules needs you: " and its
kind in plain words, with a link to the page (ids only: the page itself asks the reader to
sign in); a digest lists kinds and links; a confirmation carries only its link.

Everything a mail holds is fixed when its row is made (the Date is the row's creation, the
Message-ID is made from its id), so a mail sent again after a crash is the same mail,
recognisable by its Message-ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from uuid import UUID

from ledger.mail.kinds import PLAIN_WORDS

SOMETHING_NEEDS_YOU = "Something in one of your polycules needs you"
PRODUCT = "Polycule Agreement Ledger"
# CRLF line ends, and lines as long as RFC 5322 allows: a link stays one line of plain
# text (no quoted-printable breaking it), readable as it is by any mail program.
_POLICY = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Letters:
    """Writes every mail the ledger sends, from one sender with links to one service."""

    public_url: str
    mail_from: str

    def message_id(self, mail_id: UUID) -> str:
        domain = self.mail_from.rsplit("@", 1)[-1]
        return f"<{mail_id}@{domain}>"

    def confirmation(self, mail_id: UUID, to: str, token: str, written: datetime) -> EmailMessage:
        link = self._url(f"/email/confirm/{token}")
        return self._message(mail_id, to, written, f"Confirm your address for the {PRODUCT}", (
            f"Someone asked the {PRODUCT} to send notices to this address.\n\n"
            f"If it was you, confirm it here:\n{link}\n\n"
            "If it was not you, do nothing: nothing more is sent to this address unless "
            "the link above is followed. It works for 7 days.\n"
        ))

    def notice(
        self, mail_id: UUID, to: str, kind: str, link: str, unsubscribe: str, written: datetime
    ) -> EmailMessage:
        words = PLAIN_WORDS.get(kind, "something changed")
        message = self._message(mail_id, to, written, f"{SOMETHING_NEEDS_YOU}: {words}", (
            f"{SOMETHING_NEEDS_YOU}: {words}.\n\n"
            f"Open it in the ledger (you may be asked to sign in):\n{self._url(link)}\n"
            f"{self._footer(unsubscribe)}"
        ))
        self._unsubscribe_headers(message, unsubscribe)
        return message

    def digest(
        self, mail_id: UUID, to: str, items: Sequence[tuple[str, str]], unsubscribe: str,
        written: datetime,
    ) -> EmailMessage:
        lines = "".join(
            f"- {PLAIN_WORDS.get(kind, 'something changed')}:\n  {self._url(link)}\n"
            for kind, link in items
        )
        count = "1 thing" if len(items) == 1 else f"{len(items)} things"
        message = self._message(
            mail_id, to, written, f"Your day in your polycules: {count} to look at", (
                f"Since your last digest, in your polycules:\n\n{lines}\n"
                "Open each in the ledger (you may be asked to sign in).\n"
                f"{self._footer(unsubscribe)}"
            ),
        )
        self._unsubscribe_headers(message, unsubscribe)
        return message

    def _message(
        self, mail_id: UUID, to: str, written: datetime, subject: str, body: str
    ) -> EmailMessage:
        message = EmailMessage(policy=_POLICY)
        message["From"] = self.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(written)
        message["Message-ID"] = self.message_id(mail_id)
        # Sent by a machine: auto-responders (holiday replies) must not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message

    def _footer(self, unsubscribe: str) -> str:
        return (
            "\n--\n"
            f"Choose what you are told, and how soon: {self._url('/account/email')}\n"
            f"Stop every mail from the ledger: {self._url(f'/unsubscribe/{unsubscribe}')}\n"
        )

    def _unsubscribe_headers(self, message: EmailMessage, unsubscribe: str) -> None:
        # RFC 8058: a mail program offers "unsubscribe" and POSTs to the link by itself.
        message["List-Unsubscribe"] = f"<{self._url(f'/unsubscribe/{unsubscribe}')}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    def _url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path
