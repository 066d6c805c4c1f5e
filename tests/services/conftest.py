"""Real services for tests: an SMTP server, and Celery workers on Redis.

Fixtures
--------

``smtp_server`` -> :class:`SMTPServer`
    An aiosmtpd server on 127.0.0.1 and a free port, with Django's SMTP backend
    pointed at it for the test (``EMAIL_BACKEND``, ``EMAIL_HOST``, ``EMAIL_PORT``,
    no TLS, no login). Needs nothing else, so it works on SQLite with eager Celery.

    - ``smtp_server.messages``: what it accepted so far, in order, as
      :class:`ReceivedMessage` (``mail_from``, ``recipients``, ``message``: a parsed
      ``email.message.EmailMessage``; shortcuts ``to``, ``subject``, ``text``, ``html``).
    - ``smtp_server.wait_for(n, timeout=10)``: block until ``n`` messages arrived
      (fails with what did arrive otherwise); returns them.
    - ``smtp_server.messages_to(address)``: those with ``address`` among the recipients.
    - ``smtp_server.fail_next(n, reply="451 4.3.0 Try again later")``: refuse the next
      ``n`` messages at DATA with that reply (4xx or 5xx); ``smtp_server.refused``
      counts refusals so far. A ``421`` also closes the connection, as RFC 5321 says.
    - ``smtp_server.reply_delay = 0.5``: answer each DATA that much later (a slow
      server: keeps a sender busy mid-send, e.g. to race two workers).
    - ``smtp_server.hold_after(n)``: accept ``n`` more messages, then leave every later
      DATA unanswered (its sender stuck mid-send; ``smtp_server.held`` counts them)
      until ``smtp_server.release()``. A held message whose sender hangs up is not
      accepted (a message counts once the server answered 250).
    - ``smtp_server.quit_delay = 1.0``: answer QUIT that much later.
    - Each message's ``accepted_at`` is the ``time.time()`` of its 250 answer.
    - ``smtp_server.host``, ``.port``, ``.email_url`` (``smtp://127.0.0.1:<port>``).

``celery_worker_process`` -> :class:`CeleryWorker`
    A real ``celery -A storefront worker --pool=solo`` subprocess, ready, consuming a
    queue of the test's own (``celery_queue``), talking to the *test* database, Redis
    and ``smtp_server``. Needs PostgreSQL and Redis (skips locally without them,
    fails under CI=true) and makes the test transactional (the worker only sees
    committed rows). For the test's duration the in-process Celery app is not eager
    and publishes to that queue, so ``task.delay()`` and ``transaction.on_commit``
    hand work to the worker. Its log is attached to the report of a failing test.

    - ``worker.name``, ``worker.queue``, ``worker.env``, ``worker.log()``.
    - ``worker.task_outcome(task_id, timeout=10)``: wait until the worker logs that
      task (by id, e.g. ``deliver_email.delay(pk).id``) as finished; return the
      ``repr`` of its return value (``"'sent'"``). Because a solo worker runs its
      queue in order, waiting for a task sent last is a barrier: everything sent
      before it has run too.
    - ``worker.outcome(task_id)``: the same without waiting (None if not finished).
    - ``worker.wait_for_log(text, timeout=10)``.

``start_celery_worker(pool="solo", concurrency=1, env=None, wait=True)`` -> :class:`CeleryWorker`
    The factory behind ``celery_worker_process``: more workers (competing consumers
    of the same queue), another pool (``pool="threads", concurrency=4`` for a big
    fan-out), or extra environment (the worker reads its settings from the
    environment only, never from the test's ``settings`` fixture: pass e.g.
    ``env={"SITE_URL": ...}``). ``wait=False`` starts it without waiting, so
    several start in parallel; then call ``worker.wait_ready()``. All are stopped
    (SIGTERM to the process group, SIGKILL after 10 s) at teardown.

``celery_queue`` -> str
    The test's queue name; switches the in-process Celery app to it (used by the
    two above; restores the app afterwards).

Worker defaults: ``EMAIL_RETRY_BASE_SECONDS=0.2`` (retries after 0.2 s, 0.4 s, ...),
``EMAIL_TIMEOUT=5``, ``DEBUG=false``, ``CELERY_TASK_ALWAYS_EAGER=false``, ``LOG_FORMAT=text``
(lines end with the message: what ``task_outcome`` parses).

Helpers: ``wait_until(predicate, timeout=10, message=...)`` polls until the predicate
returns something truthy and returns it; ``task_outcome(task_id, *workers, timeout=10)``
waits until any of several workers finished a task: ``(worker, repr of its result)``.

Example::

    pytestmark = pytest.mark.django_db(transaction=True)

    def test_the_announcement_reaches_every_reader(smtp_server, start_celery_worker):
        start_celery_worker(pool="threads", concurrency=8)
        announce_release.delay(release.pk)
        smtp_server.wait_for(2000, timeout=60)
"""

import asyncio
import contextlib
import email
import email.policy
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.db import connection

from tests.conftest import require

# --- Helpers ------------------------------------------------------------------


def wait_until(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    """Poll ``predicate`` until it returns something truthy (returned), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- SMTP -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    recipients: list[str]
    message: email.message.EmailMessage
    accepted_at: float = 0.0

    @property
    def to(self) -> str:
        return self.message["To"]

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    def _body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""

    @property
    def text(self) -> str:
        return self._body("plain")

    @property
    def html(self) -> str:
        return self._body("html")


class SMTPServer:
    """An aiosmtpd handler that records messages and can refuse some on demand."""

    host = "127.0.0.1"

    def __init__(self):
        self.port: int | None = None
        self.refused = 0
        self.reply_delay = 0.0
        self.quit_delay = 0.0
        self.held = 0
        self._messages: list[ReceivedMessage] = []
        self._failures: deque[str] = deque()
        self._changed = threading.Condition()
        self._accept_before_hold: int | None = None
        self._released = threading.Event()

    # aiosmtpd calls these in its own thread's event loop. If the client hangs up
    # while one awaits, aiosmtpd cancels it: the message is not accepted.
    async def handle_DATA(self, server, session, envelope):
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        await self._wait_while_held()
        with self._changed:
            if self._failures:
                self.refused += 1
                reply = self._failures.popleft()
                if reply.startswith("421"):  # "closing transmission channel"
                    asyncio.get_running_loop().call_soon(server.transport.close)
                return reply
            message = email.message_from_bytes(
                envelope.original_content or envelope.content, policy=email.policy.default
            )
            self._messages.append(
                ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), message, time.time())
            )
            if self._accept_before_hold is not None:
                self._accept_before_hold -= 1
            self._changed.notify_all()
        return "250 2.0.0 OK: queued"

    async def handle_QUIT(self, server, session, envelope):
        if self.quit_delay:
            await asyncio.sleep(self.quit_delay)
        return "221 Bye"

    async def _wait_while_held(self):
        with self._changed:
            if self._accept_before_hold is None or self._accept_before_hold > 0:
                return
            self.held += 1
        try:
            while not self._released.is_set():
                await asyncio.sleep(0.01)
        finally:
            with self._changed:
                self.held -= 1

    def hold_after(self, count: int) -> None:
        """Accept ``count`` more messages, then leave later ones unanswered until release()."""
        with self._changed:
            self._released.clear()
            self._accept_before_hold = count

    def release(self) -> None:
        with self._changed:
            self._accept_before_hold = None
            self._released.set()

    @property
    def email_url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._changed:
            return list(self._messages)

    def messages_to(self, address: str) -> list[ReceivedMessage]:
        return [m for m in self.messages if address in m.recipients]

    def fail_next(self, count: int, reply: str = "451 4.3.0 Try again later") -> None:
        """Refuse the next ``count`` messages (at DATA) with ``reply``."""
        assert reply[:1] in "45" and reply[:3].isdigit(), "a 4xx or 5xx SMTP reply"
        with self._changed:
            self._failures.extend([reply] * count)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return all of them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                got = [(m.recipients, m.subject) for m in self._messages]
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got {len(got)}: {got}"
                )
            return list(self._messages)


@pytest.fixture
def smtp_server(settings):
    handler = SMTPServer()
    controller = None
    for attempt in range(5):  # the free port may be taken between probe and bind
        port = _free_port()
        controller = Controller(handler, hostname=handler.host, port=port, ready_timeout=5)
        try:
            controller.start()
            break
        except (OSError, TimeoutError):
            if attempt == 4:
                raise
    handler.port = port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = handler.host
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    # aiosmtpd logs every SMTP command at INFO: thousands of lines in a failure report.
    smtp_log = logging.getLogger("mail.log")
    level = smtp_log.level
    smtp_log.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        controller.stop()
        smtp_log.setLevel(level)


# --- Celery ---------------------------------------------------------------------

_WORKERS = pytest.StashKey[list]()
_FAILED = pytest.StashKey[bool]()


def worker_database_url() -> str:
    """The URL of the test database this process uses, for a worker subprocess."""
    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or ''}{port}/{quote(s['NAME'], safe='')}"


def _reset_broker_state(app) -> None:
    """Forget the connection pool and routing cached for the previous broker/queue.

    The pools themselves live on in kombu's registry (keyed by broker URL) and are
    reused next time: closing them here would break the next test on that broker.
    """
    app._pool = None
    app.__dict__.pop("amqp", None)  # a cached_property: default queue, router, producers


@pytest.fixture
def celery_queue():
    """A queue of this test's own; the in-process Celery app publishes to it, not eagerly."""
    require(
        bool(connection.vendor == "postgresql" and django_settings.REDIS_URL),
        "a real Celery worker needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)",
    )
    from storefront.celery import app, bulk_queue

    queue = f"test-{uuid.uuid4().hex}"
    keys = ("task_always_eager", "broker_url", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        task_always_eager=False,
        broker_url=django_settings.REDIS_URL,
        task_default_queue=queue,
    )
    _reset_broker_state(app)
    try:
        yield queue
    finally:
        app.conf.update(saved)
        _reset_broker_state(app)
        _forget_redis_keys(django_settings.REDIS_URL, queue, bulk_queue(queue))


def _forget_redis_keys(redis_url: str, *names: str) -> None:
    """Best effort: drop what kombu left in Redis for these queues/workers."""
    import redis

    try:
        client = redis.Redis.from_url(redis_url)
        for name in names:
            for key in client.scan_iter(match=f"*{name}*"):
                client.delete(key)
        for key in client.scan_iter(match="_kombu.binding.*pidbox"):
            stale = [m for m in client.smembers(key) if any(n.encode() in m for n in names)]
            if stale:
                client.srem(key, *stale)
        client.close()
    except redis.RedisError:
        pass


@dataclass
class CeleryWorker:
    name: str
    queue: str
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None
    _terminated: bool = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _fail(self, why: str):
        pytest.fail(f"celery worker {self.name}: {why}\n--- worker log ---\n{self.log()}")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        def seen():
            log = self.log()
            if text in log:
                return log
            if self.process.poll() is not None:
                self._fail(f"exited with {self.process.returncode} before logging {text!r}")
            return None

        return wait_until(seen, timeout=timeout, message=f"{text!r} in the log of {self.name}")

    def outcome(self, task_id: str) -> str | None:
        """The repr of task ``task_id``'s return value if this worker finished it, else None.

        Fails the test if the task raised, or if the worker died.
        """
        done = re.compile(rf"\[{re.escape(task_id)}\] (succeeded in [\d.e-]+s: (.*)|raised .*)$")
        for line in self.log().splitlines():
            match = done.search(line)
            if match:
                if match.group(2) is None:
                    self._fail(f"task {task_id} failed: {match.group(1)}")
                return match.group(2)
        if self.process.poll() is not None:
            self._fail(f"exited with {self.process.returncode} before task {task_id} ended")
        return None

    def task_outcome(self, task_id: str, timeout: float = 10.0) -> str:
        """Wait until this worker finished task ``task_id``; its return value's repr."""
        return task_outcome(task_id, self, timeout=timeout)[1]

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the worker's "ready" line, then for it to answer a ping over Redis."""
        from storefront.celery import app

        deadline = time.monotonic() + timeout
        self.wait_for_log(f"{self.name} ready.", timeout=timeout)
        while time.monotonic() < deadline:
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        self._fail(f"did not answer a ping within {timeout}s")

    def terminate(self) -> None:
        """Ask for a warm shutdown (SIGTERM to its process group), without waiting."""
        if self.process is not None and self.process.poll() is None and not self._terminated:
            self._terminated = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)  # its own session: pgid == pid

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate it and wait; SIGKILL what is left of its group after ``timeout``."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Hung: kill the whole group (the worker and any pool children).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def task_outcome(task_id: str, *workers: CeleryWorker, timeout: float = 10.0):
    """Wait until one of ``workers`` finished task ``task_id``: (that worker, repr of
    the return value)."""

    def finished():
        for worker in workers:
            value = worker.outcome(task_id)
            if value is not None:
                return worker, value
        return None

    return wait_until(finished, timeout=timeout, message=f"task {task_id} to finish")


def _celery_command() -> list[str]:
    script = Path(sys.executable).with_name("celery")
    return [str(script)] if script.exists() else [sys.executable, "-m", "celery"]


@pytest.fixture
def start_celery_worker(celery_queue, smtp_server, transactional_db, tmp_path, request):
    """Factory: start real Celery workers on the test's queues (see the module doc)."""
    from storefront.celery import bulk_queue

    workers: list[CeleryWorker] = []
    request.node.stash[_WORKERS] = workers
    database_url = worker_database_url()

    def start(*, pool="solo", concurrency=1, env=None, wait=True, queues=None) -> CeleryWorker:
        """``queues``: the test's queues it consumes (default: the test's queue and its
        bulk queue, as a worker started without -Q consumes both)."""
        name = f"storefront-test-{uuid.uuid4().hex[:12]}@localhost"
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "storefront.settings",
            "DATABASE_URL": database_url,
            "CONN_MAX_AGE": "0",
            "REDIS_URL": django_settings.REDIS_URL,
            "CELERY_QUEUE": celery_queue,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "EMAIL_URL": smtp_server.email_url,
            "EMAIL_TIMEOUT": "5",
            "EMAIL_RETRY_BASE_SECONDS": "0.2",
            "SECRET_KEY": django_settings.SECRET_KEY,
            "DEBUG": "false",
            "LOG_LEVEL": "INFO",
            # Text lines, which task_outcome() parses (DEBUG=false would mean JSON).
            "LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        worker = CeleryWorker(
            name=name,
            queue=celery_queue,
            env=worker_env,
            log_path=tmp_path / f"celery-worker-{len(workers) + 1}.log",
        )
        command = [
            *_celery_command(),
            "-A",
            "storefront",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues or (celery_queue, bulk_queue(celery_queue)))}",
            f"--hostname={name}",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        with worker.log_path.open("wb") as log:
            worker.process = subprocess.Popen(
                command,
                cwd=django_settings.BASE_DIR,
                env=worker_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.terminate()  # all at once, then wait for each
        for worker in workers:
            worker.stop()
        _forget_redis_keys(django_settings.REDIS_URL, *(w.name for w in workers))


@pytest.fixture
def celery_worker_process(start_celery_worker):
    """One real, ready, solo-pool Celery worker on the test's queue (see the module doc)."""
    return start_celery_worker()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report ends with the whole log of every worker it started.

    Shown after the worker stopped (in a teardown section, which pytest prints under
    the failure), so the log has everything the worker did, shutdown included.
    """
    report = yield
    if report.failed and report.when != "teardown":
        item.stash[_FAILED] = True
    if report.when == "teardown" and (report.failed or item.stash.get(_FAILED, False)):
        for worker in item.stash.get(_WORKERS, []):
            report.sections.append((f"celery worker {worker.name} log (teardown)", worker.log()))
    return report
