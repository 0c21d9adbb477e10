"""E-mail over SMTP with ``smtplib``: plain text with an HTML alternative.

STARTTLS (the server's certificate checked against the system's certificates, or
``OKR_SMTP_CA_BUNDLE``) and login are used when configured (``OKR_SMTP_*``). A 5xx answer
(a refused address) fails the delivery for good; anything else (connection refused,
timeouts, 4xx, a refused login, a server without STARTTLS when it is required, a
certificate that does not verify) is retried. The ``Message-ID`` is derived from the
delivery id, so a repeated delivery carries the same one.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from services.notifications.config import SmtpSettings
from services.notifications.domain.messages import Message
from services.notifications.domain.outcomes import Outcome
from services.notifications.domain.subscriptions import Subscription


def compose(delivery_id: str, message: Message, sender: str, recipient: str) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject()
    email["From"] = sender
    email["To"] = recipient
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = f"<{delivery_id}@okr-notifications>"
    email.set_content(message.text())
    email.add_alternative(message.html(), subtype="html")
    return email


class EmailSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, delivery_id: str, message: Message, subscription: Subscription) -> Outcome:
        settings = self.settings
        email = compose(delivery_id, message, settings.sender, subscription.target)
        try:
            with smtplib.SMTP(settings.host, settings.port,
                              timeout=settings.timeout_seconds) as smtp:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=settings.ca_bundle))
                if settings.username and settings.password:
                    smtp.login(settings.username, settings.password)
                smtp.send_message(email)
        except smtplib.SMTPAuthenticationError as error:
            # The operator's credentials are wrong: retried, so fixing them is enough.
            return Outcome.retry(f"SMTP login refused ({error.smtp_code})")
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(code >= 500 for code in codes):
                return Outcome.give_up(f"recipient refused: {codes}")
            return Outcome.retry(f"recipient deferred: {codes}")
        except smtplib.SMTPResponseException as error:
            reason = f"SMTP {error.smtp_code}: {error.smtp_error!r}"
            return Outcome.give_up(reason) if error.smtp_code >= 500 else Outcome.retry(reason)
        except (smtplib.SMTPException, OSError) as error:
            return Outcome.retry(f"{type(error).__name__}: {error}")
        return Outcome.delivered()
