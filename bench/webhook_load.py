"""Load driver for the Stripe webhook: N connections posting freshly signed events.

wrk sends one fixed body, and its Lua has no HMAC, so it cannot sign a stream
of distinct events. This asyncio driver keeps ``connections`` requests in
flight for ``duration`` seconds; every event has its own id and a
``Stripe-Signature: t=<now>,v1=HMAC_SHA256(secret, "<t>.<payload>")`` made
right before it is sent, exactly as Stripe signs.

The events never make the app call Stripe (the bench has no network):
- ``payment_intent.succeeded`` for a PaymentIntent no order has: the handler
  verifies, checks the event id, looks the order up and stores the event;
- ``charge.refunded`` for such a PaymentIntent: the same on the refund path;
- ``customer.updated``: a type the handler does not act on; stored, 200;
- every tenth event repeats an earlier id, as Stripe's retries do: "replay ignored".
All of them must be answered 200.

Gunicorn's sync workers close every connection after the response, so each
request opens its own connection, as wrk does against them. Latency runs from
connect to the end of the response. Standalone use:
``python -m bench.webhook_load --url http://127.0.0.1:8000/webhooks/stripe/ --secret whsec_...``
"""

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import urlsplit

EVENT_TYPES = ("payment_intent.succeeded", "charge.refunded", "customer.updated")


def sign(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(n: int, prefix: str) -> bytes:
    """The n-th event: a Stripe-shaped JSON body (about 1 kB, like a real one)."""
    kind = EVENT_TYPES[n % len(EVENT_TYPES)]
    if n % 10 == 9 and n >= 10:
        n -= 5  # a retry of an event sent a moment ago
        kind = EVENT_TYPES[n % len(EVENT_TYPES)]
    intent = f"pi_bench_nobody_{prefix}{n:08d}"
    if kind == "payment_intent.succeeded":
        obj = {
            "id": intent, "object": "payment_intent", "amount": 2499, "amount_received": 2499,
            "currency": "usd", "status": "succeeded", "latest_charge": f"ch_{prefix}{n:08d}",
            "payment_method_types": ["card"], "capture_method": "automatic",
            "metadata": {"order_id": "0", "public_id": "00000000-0000-0000-0000-000000000000", "book": "bench"},
        }  # fmt: skip
    elif kind == "charge.refunded":
        obj = {
            "id": f"ch_{prefix}{n:08d}", "object": "charge", "amount": 2499,
            "amount_refunded": 2499, "currency": "usd", "payment_intent": intent,
            "refunded": True, "status": "succeeded", "metadata": {},
        }  # fmt: skip
    else:
        obj = {
            "id": f"cus_{prefix}{n:08d}", "object": "customer", "email": f"r{n}@bench.example",
            "metadata": {}, "invoice_settings": {"default_payment_method": None},
        }  # fmt: skip
    body = {
        "id": f"evt_{prefix}{n:08d}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
        "data": {"object": obj, "previous_attributes": {}},
    }
    return json.dumps(body).encode()


async def _post(host, port, path, body, signature, timeout) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nStripe-Signature: {signature}\r\n"
            "X-Forwarded-Proto: https\r\nUser-Agent: bench-webhook/1\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        await asyncio.wait_for(reader.read(), timeout)  # to EOF: the worker closes
        return int(status_line.split()[1])
    finally:
        writer.close()


async def _run(url, secret, connections, duration, prefix, timeout):
    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port or 80, parts.path
    counter = itertools.count()
    latencies: list[float] = []
    stats = {"non2xx": 0, "errors": 0, "first_bad_status": 0}
    start = time.perf_counter()
    deadline = start + duration

    async def worker():
        while time.perf_counter() < deadline:
            body = event(next(counter), prefix)
            t0 = time.perf_counter()
            try:
                status = await _post(host, port, path, body, sign(secret, body), timeout)
            except (OSError, TimeoutError, ValueError, IndexError):
                stats["errors"] += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if not 200 <= status <= 299:
                stats["non2xx"] += 1
                stats["first_bad_status"] = stats["first_bad_status"] or status

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p):
        if not latencies:
            return 0
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)

    return {
        "requests": len(latencies) + stats["errors"],
        "duration_us": int(elapsed * 1e6),
        "non2xx": stats["non2xx"],
        "first_bad_status": stats["first_bad_status"],
        "errors": {"connect": 0, "read": stats["errors"], "write": 0, "timeout": 0},
        "latency_us": {
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "max": pct(100),
            "mean": round(sum(latencies) / len(latencies) * 1e6, 1) if latencies else 0,
        },
    }


def run(url, secret, *, connections=50, duration=10.0, prefix="bench", timeout=30.0) -> dict:
    return asyncio.run(_run(url, secret, connections, duration, prefix, timeout))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--prefix", default=f"cli{int(time.time())}_")
    args = parser.parse_args()
    result = run(
        args.url,
        args.secret,
        connections=args.connections,
        duration=args.duration,
        prefix=args.prefix,
    )
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
