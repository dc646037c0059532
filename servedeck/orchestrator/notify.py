"""Notifications for what an operator must act on: a worker unhealthy, a replacement that
failed, the circuit breaker opening, a node blacklisted (the seed's events).

`log_only` writes a WARNING/ERROR line with its own event; `email` also sends a mail
through the configured SMTP server (the public sgorch's `notifications.email`). Mail
goes out from one background thread through a bounded queue, so a slow or dead SMTP
server never stalls a reconcile pass; a failed delivery is logged, never raised.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import socket
import threading
from email.message import EmailMessage

from servedeck.orchestrator.config import NotificationSettings
from servedeck.orchestrator.logging_json import log
from servedeck.text import safe

EVENTS = {
    "worker_unhealthy": logging.WARNING,
    "replacement_failed": logging.ERROR,
    "circuit_open": logging.ERROR,
    "node_blacklisted": logging.WARNING,
}
_QUEUE = 100  # mails waiting; past this they are dropped (and logged): a storm must not grow memory


class Notifier:
    def __init__(self, settings: NotificationSettings):
        self.settings = settings
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[EmailMessage | None] = queue.Queue(maxsize=_QUEUE)
        self._thread: threading.Thread | None = None
        if settings.type == "email":
            self._thread = threading.Thread(target=self._mailer, name="notify-email", daemon=True)
            self._thread.start()

    def notify(self, event: str, message: str, *, deployment: str = "") -> None:
        log(f"notify_{event}", message, level=EVENTS.get(event, logging.WARNING), deployment=deployment)
        if self._thread is None:
            return
        mail = EmailMessage()
        e = self.settings.email
        mail["From"] = e.from_addr or ""
        mail["To"] = ", ".join(e.to_addrs)
        mail["Subject"] = safe(f"[sgorch] {deployment}: {event.replace('_', ' ')}", 200)
        mail["X-Sgorch-Event"] = event
        mail.set_content(f"{message}\n\ndeployment: {deployment}\nevent: {event}\nhost: {socket.gethostname()}\n")
        try:
            self._queue.put_nowait(mail)
        except queue.Full:
            self.failed += 1
            log("notify_dropped", f"mail queue full ({_QUEUE}): dropped {event} for {deployment}",
                level=logging.ERROR, deployment=deployment)

    def _mailer(self) -> None:
        e = self.settings.email
        host, port = e.server()
        while (mail := self._queue.get()) is not None:
            try:
                with smtplib.SMTP(host, port, timeout=e.timeout_s) as smtp:
                    smtp.send_message(mail)
                self.sent += 1
            except (OSError, smtplib.SMTPException) as exc:
                self.failed += 1
                log("notify_email_failed", f"cannot mail {mail['X-Sgorch-Event']} via {host}:{port}: "
                    f"{safe(exc, 200)}", level=logging.ERROR)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued mails are delivered or failed (tests, shutdown)."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        return done.wait(timeout)

    def close(self) -> None:
        if self._thread is not None:
            self.flush(5.0)
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout=5.0)
            self._thread = None
