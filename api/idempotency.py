"""``Idempotency-Key`` on writes: the same key with the same request gets the first
answer again (nothing runs twice); the same key with another request is refused (422);
a retry arriving while the first is still running is told to wait (409)."""

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from .models import IdempotentRequest
from .problems import PROBLEM_TYPE, Problem

HEADER = "Idempotency-Key"
MAX_LENGTH = 200


def fingerprint(request) -> str:
    """What makes two requests "the same": method, path, fields and file contents.
    Not the raw body: a multipart boundary differs on every curl run."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    data, files = request.data, request.FILES
    fields = {k: v for k, v in data.lists() if k not in files} if hasattr(data, "lists") else data
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for name in sorted(files):
        upload = files[name]
        digest.update(f"\n{name}:{upload.size}:".encode())
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
    return digest.hexdigest()


def run_once(request, handler) -> Response:
    """Answer ``request`` with ``handler()``, at most once per idempotency key."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > MAX_LENGTH:
        raise Problem(400, f"The {HEADER} header is longer than {MAX_LENGTH} characters.")
    print_ = fingerprint(request)
    try:
        with transaction.atomic():
            record = IdempotentRequest.objects.create(
                api_key=request.auth, key=key, fingerprint=print_
            )
    except IntegrityError:
        record = IdempotentRequest.objects.get(api_key=request.auth, key=key)
        if record.fingerprint != print_:
            raise Problem(
                422, f"This {HEADER} was used for a different request; use a new key."
            ) from None
        if record.status is None:
            raise Problem(
                409, "The first request with this key is still running; retry later."
            ) from None
        response = Response(record.body, status=record.status)
        response["Idempotent-Replayed"] = "true"
        if record.status >= 400:
            response.content_type = PROBLEM_TYPE
        return response
    try:
        response = handler()
    except Exception:
        record.delete()  # nothing was kept: a retry may run it
        raise
    if response.status_code >= 500:
        record.delete()
    else:
        record.status, record.body = response.status_code, response.data
        record.save(update_fields=["status", "body"])
    return response
