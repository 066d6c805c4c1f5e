"""A purchase storm: many readers buying through the store's HTML forms at once.

The store runs as it does in production: a real gunicorn (several workers, each
with threads) on a free loopback port, on a database of the run's own, with eager
Celery and the demo gateway. Readers are ``requests`` sessions that behave like a
browser: they log in through allauth's form, read the CSRF token and the checkout
token off each page, and post what the page's forms would post. Two "tabs" of a
reader share its session cookie, as browser tabs do.

Pieces, used by ``test_purchase_storm.py``:

- ``manage(database_url, var_dir, *args)``: ``manage.py`` in a subprocess against
  that database (``migrate``, ``audit_ledger``, ``shell -c``).
- ``seed(...)``: a few books and readers with a known password.
- ``running_store(...)``: the gunicorn context manager, yields its base URL.
- ``Storm``: the readers' scenarios and every response they got.
- ``money_state(...)``: the run's orders, ledger and entitlements, read back.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings as django_settings

PASSWORD = "storm-reader-password"
PRICE = "19.99"
SUCCEEDING_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
REQUEST_TIMEOUT = 30

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_CHECKOUT_TOKEN = re.compile(r'name="checkout_token" value="([0-9a-f-]{36})"')


# --- the store, in subprocesses ---------------------------------------------------


def store_env(database_url: str, var_dir: Path) -> dict:
    """The environment of every process of the run: its own database, no Redis
    (Celery eager, per-process cache), no DEBUG, mail dropped."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "REDIS_", "DATABASE_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="storefront.settings",
        DATABASE_URL=database_url,
        VAR_DIR=str(var_dir),
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        EMAIL_URL="dummymail://",
        PAYMENT_GATEWAY="demo",
        LOG_FORMAT="text",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_var_dir(var_dir: Path) -> None:
    """Files of the run go to its own folder; static files are the suite's collected
    ones (DEBUG=false serves hashed names from the manifest)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    static = var_dir / "static"
    if not static.exists():
        static.symlink_to(Path(django_settings.STATIC_ROOT).resolve(), target_is_directory=True)


def manage(database_url: str, var_dir: Path, *args: str, timeout: float = 120, check=True):
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=django_settings.BASE_DIR,
        env=store_env(database_url, var_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)[:80]} exited {result.returncode}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


_SEED = """
import json
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from tests.factories import AuthorFactory, BookFactory

User = get_user_model()
hashed = make_password({password!r})  # hashed once: the same password for every reader

def user(email):
    u = User.objects.create(email=email, name=email.split("@")[0], password=hashed)
    EmailAddress.objects.create(user=u, email=email, verified=True, primary=True)
    return u

books = [
    BookFactory(
        slug=f"storm-book-{{i}}",
        title=f"Storm book {{i}}",
        authors=[AuthorFactory(user=user(f"storm-author-{{i}}@example.com"), slug=f"storm-author-{{i}}")],
    ).slug
    for i in range({books})
]
readers = [user(f"storm-reader-{{i}}@example.com").email for i in range({readers})]
print("STORM_SEED " + json.dumps({{"books": books, "readers": readers}}))
"""


def seed(database_url: str, var_dir: Path, *, books: int, readers: int) -> dict:
    """Create the books and readers (password ``PASSWORD``); their slugs and e-mails."""
    script = _SEED.format(password=PASSWORD, books=books, readers=readers)
    out = manage(database_url, var_dir, "shell", "-c", script).stdout
    return json.loads(out.split("STORM_SEED ", 1)[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn() -> list[str]:
    script = Path(sys.executable).with_name("gunicorn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]


@dataclass
class Store:
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def running_store(database_url: str, var_dir: Path, *, workers=2, threads=4):
    """gunicorn serving the store on a free loopback port until the block ends."""
    log_path = var_dir / "gunicorn.log"
    port = _free_port()
    command = [
        *_gunicorn(),
        "storefront.wsgi:application",
        "--config=python:storefront.gunicorn",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--timeout=60",
        "--graceful-timeout=5",
        # Longer than any pause of a reader (the runs wait at barriers): gunicorn's
        # 2 s default closes an idle kept-alive connection, and a POST sent on it at
        # that instant is reset before the store sees it (a CI run on a loaded
        # machine lost one request so: a transport race, not the store's answer).
        "--keep-alive=120",
        "--error-logfile=-",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=django_settings.BASE_DIR,
            env=store_env(database_url, var_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    store = Store(base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{store.base_url}/healthz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{store.log()[-3000:]}")
            time.sleep(0.2)
        yield store
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- readers ----------------------------------------------------------------------


@dataclass
class Hit:
    reader: str
    method: str
    path: str
    status: int  # 0: no answer (connection error, timeout)
    body: str = ""


@dataclass
class Storm:
    """Every reader's scenario, run in parallel; ``hits`` is every response seen."""

    base_url: str
    hits: list[Hit] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # One request as a browser sends it; redirects followed, each hop recorded.
    def request(self, session, reader, method, path, data=None) -> requests.Response | None:
        try:
            response = session.request(
                method, self.base_url + path, data=data, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException as exc:
            self._record(Hit(reader, method, path, 0, repr(exc)))
            return None
        for hop in [*response.history, response]:
            excerpt = _excerpt(hop.text) if hop.status_code >= 500 else ""
            hop_path = hop.url.removeprefix(self.base_url)
            self._record(Hit(reader, hop.request.method, hop_path, hop.status_code, excerpt))
        return response

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def login(self, email: str) -> requests.Session:
        session = requests.Session()
        page = self.request(session, email, "GET", "/accounts/login/")
        response = self.request(
            session,
            email,
            "POST",
            "/accounts/login/",
            {"csrfmiddlewaretoken": _csrf(page), "login": email, "password": PASSWORD},
        )
        if response is None or "sessionid" not in session.cookies:
            raise AssertionError(
                f"{email} could not log in: {_excerpt(response and response.text)}"
            )
        return session

    @staticmethod
    def tab(session: requests.Session) -> requests.Session:
        """Another tab of the same browser: the same cookies, its own page."""
        other = requests.Session()
        other.cookies.update(session.cookies)
        return other

    def open_checkout(self, tab, reader, book) -> dict | None:
        """Book page, then the checkout summary: the form the Pay button posts."""
        self.request(tab, reader, "GET", f"/books/{book}/")
        page = self.request(tab, reader, "GET", f"/checkout/{book}/?amount={PRICE}")
        token = _CHECKOUT_TOKEN.search(page.text) if page is not None else None
        if token is None:
            return None  # e.g. "you own this book already"
        return {
            "csrfmiddlewaretoken": _csrf(page),
            "amount": PRICE,
            "checkout_token": token.group(1),
        }

    def place(self, tab, reader, book, form) -> requests.Response | None:
        """Post the checkout form; the answer is the demo card page (or not)."""
        if form is None:
            return None
        return self.request(tab, reader, "POST", f"/checkout/{book}/pay/", form)

    def pay_card(self, tab, reader, card_page, card) -> requests.Response | None:
        """Type the card on the demo payment page and submit it."""
        if card_page is None or "card_number" not in card_page.text:
            return None
        path = card_page.url.removeprefix(self.base_url)
        data = {
            "csrfmiddlewaretoken": _csrf(card_page),
            "card_number": card,
            "expiry": "12/34",
            "cvc": "123",
        }
        return self.request(tab, reader, "POST", path, data)

    def refund_first_paid_order(self, tab, reader, book) -> None:
        """Order list -> the book's paid order -> refund page (click 1) -> confirm (click 2)."""
        orders = self.request(tab, reader, "GET", "/orders/")
        ids = re.findall(r'href="/orders/([0-9a-f-]{36})/"', orders.text if orders else "")
        for public_id in dict.fromkeys(ids):
            page = self.request(tab, reader, "GET", f"/orders/{public_id}/refund/")
            if page is not None and page.status_code == 200 and "Confirm refund" in page.text:
                self.request(
                    tab,
                    reader,
                    "POST",
                    f"/orders/{public_id}/refund/",
                    {"csrfmiddlewaretoken": _csrf(page), "reason": "Bought it twice"},
                )
                return

    def server_errors(self) -> list[Hit]:
        return [h for h in self.hits if h.status >= 500 or h.status == 0]

    def refused(self) -> list[Hit]:
        """Answers a reader doing only what the pages offer never gets: a rejected
        CSRF token or session (the harness is wrong), or a rate limit."""
        return [h for h in self.hits if h.status in (401, 403, 429)]

    def summary(self) -> str:
        counts = Counter(h.status for h in self.hits)
        return ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))


def _csrf(response) -> str:
    match = _CSRF.search(response.text) if response is not None else None
    return match.group(1) if match else ""


def _excerpt(text: str | None, size: int = 400) -> str:
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", text or "", flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()
    return text[:size]


def exceptions_in(log: str) -> Counter:
    """The exceptions a server log's tracebacks end with, counted."""
    return Counter(re.findall(r"^((?:[\w.]+\.)?\w*(?:Error|Exception)\b:.*)$", log, flags=re.M))


# --- the run's money, read back -----------------------------------------------------

_STATE = """
import json
from django.db.models import Sum
from library.models import Entitlement
from payments.models import LedgerEntry, Order, Refund

orders = []
for o in Order.objects.filter(product="book").select_related("buyer", "book"):
    refund = Refund.objects.filter(order=o).values_list("status", flat=True).first()
    processor = LedgerEntry.objects.filter(
        transaction__order=o, account=LedgerEntry.Account.PROCESSOR
    ).aggregate(s=Sum("amount_cents"))["s"]
    orders.append({
        "reader": o.buyer.email, "book": o.book.slug, "id": str(o.public_id),
        "status": o.status, "amount": o.amount_cents, "refund": refund,
        "processor": processor or 0,
    })
entitlements = [
    {"reader": e.user.email, "book": e.book.slug, "active": e.revoked_at is None,
     "order": str(e.order_ref)}
    for e in Entitlement.objects.select_related("user", "book")
]
print("STORM_STATE " + json.dumps({"orders": orders, "entitlements": entitlements}))
"""


def money_state(database_url: str, var_dir: Path) -> dict:
    """Book orders (status, refund, net ledger cash) and entitlements of the run."""
    out = manage(database_url, var_dir, "shell", "-c", _STATE).stdout
    return json.loads(out.split("STORM_STATE ", 1)[1])
