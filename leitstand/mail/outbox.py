"""Mail that a request sends without waiting for the SMTP server.

A password-reset request for a known address sends a mail, one for an unknown address
does not; if the answer waited for the SMTP server, its time would tell which addresses
have accounts. The same holds for the warning about failed logins. Such mail is
therefore queued on the request's database session with `send_after_commit`, handed to
this process's one background sender when the session commits (so no mail carries a link
that a rolled-back transaction never stored), and dropped if the session rolls back.

Delivery failures are logged and counted; the queue lives in memory, so mail still
queued when the process stops is lost (the user asks again).
"""

from __future__ import annotations

import logging
import queue
import smtplib
import threading
from email.message import EmailMessage

from sqlalchemy import event
from sqlalchemy.orm import Session

from leitstand.config import Settings
from leitstand.mail.sender import compose, deliver, templated

log = logging.getLogger(__name__)
_HELD = "leitstand.mail.outbox"


class _Sender:
    """One daemon thread per process that delivers queued messages in order."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Settings, EmailMessage]] = queue.Queue()
        self._idle = threading.Condition()
        self._unsent = 0
        self._thread: threading.Thread | None = None
        self.failures = 0

    def post(self, settings: Settings, message: EmailMessage) -> None:
        with self._idle:
            self._unsent += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mail-outbox", daemon=True)
                self._thread.start()
        self._queue.put((settings, message))

    def wait_until_sent(self, timeout: float) -> bool:
        """Whether everything posted so far was delivered (or failed) within the timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsent == 0, timeout)

    def _run(self) -> None:
        while True:
            settings, message = self._queue.get()
            try:
                deliver(settings, message)
            except (OSError, smtplib.SMTPException) as error:
                self.failures += 1
                log.warning("mail to %s failed: %s", message["To"], error)
            except Exception:  # a bad message must not stop the mail of everyone after it
                self.failures += 1
                log.exception("mail to %s failed", message["To"])
            finally:
                with self._idle:
                    self._unsent -= 1
                    self._idle.notify_all()


sender = _Sender()


def send_after_commit(db: Session, settings: Settings, to: str, template: str, language: str, **values: object) -> None:
    """Queue a templated mail (see leitstand.mail.sender.MESSAGES) to go out once db commits."""
    held: list[tuple[Settings, EmailMessage]] = db.info.setdefault(_HELD, [])
    held.append((settings, compose(settings, to, *templated(template, language, **values))))
    if not event.contains(db, "after_commit", _post_held):
        event.listen(db, "after_commit", _post_held)
        event.listen(db, "after_rollback", _drop_held)


def _post_held(db: Session) -> None:
    for settings, message in db.info.pop(_HELD, []):
        sender.post(settings, message)


def _drop_held(db: Session) -> None:
    db.info.pop(_HELD, None)
