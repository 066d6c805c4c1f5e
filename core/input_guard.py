"""Input at the edge: text the database cannot store is refused before any view runs.

PostgreSQL refuses a NUL character in text (and a lone surrogate cannot be
encoded at all), so one such character in a search box, a filter or a form
field used to reach a query and end as a 500. Checking every view is a list
that is never complete; this middleware checks the path, the query string and
the form fields (keys and values; not uploaded files' content, not bodies that
are not forms, and not the body of a csrf_exempt view such as the Stripe
webhook, which reads it raw and checks its own) of every request once, before
the view runs, and answers a 400 page that says what was wrong.
"""

import re

from django.http import QueryDict
from django.shortcuts import render

# NUL, and the surrogate halves that are not characters on their own.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

MESSAGE = (
    "The address or the form you sent contains a character we cannot accept "
    "(a NUL byte or a broken Unicode character). Please remove it and try again."
)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def unstorable(text: str) -> bool:
    """True if ``text`` holds a character the database cannot store."""
    return bool(UNSTORABLE.search(text))


def _bad_pairs(data: QueryDict) -> bool:
    return any(unstorable(key) or any(map(unstorable, data.getlist(key))) for key in data)


class InputGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if unstorable(request.path_info) or _bad_pairs(request.GET):
            return bad_request(request, MESSAGE)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        """The form, read where Django's CSRF check reads it: not for a csrf_exempt
        view, which may read its raw body (the Stripe webhook's JSON, signed as
        bytes), and a body parsed as a form could no longer be read raw."""
        if getattr(view_func, "csrf_exempt", False):
            return None
        # Parsing errors (malformed multipart, too many fields) are Django's 400s.
        # File parts stay files: their bytes are not text.
        form = request.method == "POST" and request.content_type in FORM_TYPES
        if form and (_bad_pairs(request.POST) or any(map(unstorable, request.FILES))):
            return bad_request(request, MESSAGE)
        return None


def bad_request(request, message: str):
    """The 400 page with ``message``: what was wrong, in words a reader can act on.
    The header's search box echoes ``?q=``, which may be the bad text: not here."""
    request.GET = QueryDict()
    return render(request, "400.html", {"message": message}, status=400)
