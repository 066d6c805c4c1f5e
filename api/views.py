"""The REST API (/api/v1/): thin views over the apps' services and selectors."""

import logging
import re
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import builds, manuscript, services
from catalog.forms import BookForm, ReleaseForm
from catalog.models import Book, Build, Release
from core.money import format_plain
from payments import earnings

from . import idempotency, sales
from .models import ApiCall, ApiKey
from .problems import Problem
from .serializers import (
    BookSerializer,
    BookUpdateSerializer,
    BuildRequestSerializer,
    BuildSerializer,
    EarningsSerializer,
    ProblemSerializer,
    ReleaseSerializer,
    ReleaseUploadSerializer,
    SalesPageSerializer,
)

log = logging.getLogger("api.calls")

PROBLEMS = {
    code: OpenApiResponse(ProblemSerializer, description="application/problem+json")
    for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}


IDEMPOTENCY = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description="Send the same value to retry safely: the first answer is replayed.",
)


def problems(*codes):
    return {code: PROBLEMS[code] for code in (401, 403, 429, *codes)}


class ApiView(APIView):
    """Logs every call made with a key: the key's name, the request, the answer."""

    required_scope: str | None = None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        key = getattr(request, "auth", None)
        if isinstance(key, ApiKey):
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    # A log row is not worth an fsync per call: a crash may lose the last
                    # few rows, never money or data (the commit stays atomic).
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
                ApiCall.objects.create(
                    api_key=key,
                    key_name=key.name,
                    method=request.method,
                    path=request.path[:300],
                    status=response.status_code,
                    request_id=getattr(request, "request_id", "")[:64],
                )
            log.info(
                "api call %s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={"api_key": key.name, "api_key_prefix": key.prefix},
            )
        return response


def _author(request):
    author = getattr(request.user, "author_profile", None)
    if author is None:
        raise Problem(403, "Create your author profile first: the API is for authors.")
    return author


def _own_books(author):
    """The author's books, each with the author's own royalty share."""
    return (
        Book.objects.filter(authorships__author=author)
        .select_related("current_release")
        .annotate(share=F("authorships__royalty_share"))
        .order_by("title", "pk")
    )


def _book(request, slug, *, lock=False) -> Book:
    """One of the key owner's books, or 404 (another author's book is not found)."""
    books = Book.objects.filter(authorships__author=_author(request))
    if lock:
        books = books.select_for_update(of=("self",))  # the book row, not its authorships
    return get_object_or_404(books, slug=slug)


def book_data(book: Book, share: int) -> dict:
    return {
        "slug": book.slug,
        "title": book.title,
        "subtitle": book.subtitle,
        "status": book.status,
        "blurb": book.blurb,
        "minimum_price": format_plain(book.minimum_price_cents),
        "minimum_price_cents": book.minimum_price_cents,
        "suggested_price": format_plain(book.suggested_price_cents),
        "suggested_price_cents": book.suggested_price_cents,
        "installments_completed": book.installments_completed,
        "installments_planned": book.installments_planned,
        "current_version": book.current_release.version if book.current_release else None,
        "royalty_share": share,
        "url": settings.SITE_URL + book.get_absolute_url(),
    }


class BookList(ApiView):
    @extend_schema(responses={200: BookSerializer(many=True), **problems()})
    def get(self, request):
        """Your books (any key)."""
        books = _own_books(_author(request))
        return Response([book_data(b, b.share) for b in books])


def _form_data(book: Book, changes: dict) -> dict:
    """The book form's data as the book is now, with ``changes``: the form checks the
    whole book, exactly as the author's edit page does."""
    form = BookForm(instance=book)
    data = {name: form[name].value() for name in form.fields if name != "cover"}
    data["minimum_price"] = format_plain(book.minimum_price_cents)
    data["suggested_price"] = format_plain(book.suggested_price_cents)
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(changes)
    return data


class BookDetail(ApiView):
    parser_classes = [JSONParser]

    def get_permissions(self):
        self.required_scope = ApiKey.Scope.MANAGE_BOOKS if self.request.method == "PATCH" else None
        return super().get_permissions()

    @extend_schema(responses={200: BookSerializer, **problems(404)})
    def get(self, request, slug):
        """One of your books (any key)."""
        book = get_object_or_404(_own_books(_author(request)), slug=slug)
        return Response(book_data(book, book.share))

    @extend_schema(
        request=BookUpdateSerializer,
        parameters=[IDEMPOTENCY],
        responses={200: BookSerializer, **problems(400, 404, 409, 415, 422)},
    )
    def patch(self, request, slug):
        """Change the blurb, prices or installments (scope manage_books). The same checks
        as the edit page: free or at least the lowest paid price, suggested >= minimum, no more
        installments completed than planned."""
        incoming = BookUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return idempotency.run_once(request, lambda: self._update(request, slug, incoming))

    def _update(self, request, slug, incoming):
        with transaction.atomic():
            book = _book(request, slug, lock=True)
            form = BookForm(_form_data(book, incoming.validated_data), instance=book)
            if not form.is_valid():
                raise Problem(
                    422, "The book cannot be saved like this; see errors.", errors=_errors(form)
                )
            fields = form.book_fields()
            fields.pop("translation_of", None)  # linked on the edit page only
            book.translation_of_id = form.initial.get("translation_of")
            services.update_book(book=book, **fields)
        book = get_object_or_404(_own_books(_author(request)), slug=slug)
        return Response(book_data(book, book.share))


def release_data(release: Release) -> dict:
    return {
        "id": release.pk,
        "version": release.version,
        "notes": release.notes,
        "published": release.is_published,
        "published_at": release.published_at,
        "formats": sorted(f.format for f in release.files.all()),
    }


def _check_size(upload, limit: int, what: str) -> None:
    if upload is not None and upload.size > limit:
        raise Problem(413, f"The {what} is larger than {limit // (1024 * 1024)} MB.")


class ReleaseCreate(ApiView):
    parser_classes = [MultiPartParser]
    required_scope = ApiKey.Scope.PUBLISH

    @extend_schema(
        request={"multipart/form-data": ReleaseUploadSerializer},
        parameters=[IDEMPOTENCY],
        responses={201: ReleaseSerializer, **problems(400, 404, 409, 413, 415, 422)},
    )
    def post(self, request, slug):
        """Upload a release's PDF and/or EPUB; ``publish=true`` makes it current at once."""
        book = _book(request, slug)
        for name in ("pdf", "epub"):
            _check_size(request.FILES.get(name), settings.MAX_BOOK_FILE_BYTES, name.upper())
        return idempotency.run_once(request, lambda: self._create(request, book))

    def _create(self, request, book):
        form = ReleaseForm(request.data, request.FILES)
        _unknown_fields(request, set(form.fields))
        if not form.is_valid():
            raise Problem(422, "The release cannot be created; see errors.", errors=_errors(form))
        data = form.cleaned_data
        with transaction.atomic():
            release = services.create_release(
                book=book,
                version=data["version"],
                notes=data["notes"],
                files={"pdf": data["pdf"], "epub": data["epub"]},
            )
            if data["publish"]:
                release = services.publish_release(release=release, by=request.user)
        release = Release.objects.prefetch_related("files").get(pk=release.pk)
        return Response(release_data(release), status=status.HTTP_201_CREATED)


class ReleasePublish(ApiView):
    required_scope = ApiKey.Scope.PUBLISH

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY],
        responses={200: ReleaseSerializer, **problems(404, 409, 422)},
    )
    def post(self, request, slug, release_id):
        """Make an uploaded release the current one (publishing twice changes nothing)."""
        book = _book(request, slug)
        release = get_object_or_404(Release, pk=release_id, book=book)

        def publish():
            done = services.publish_release(release=release, by=request.user)
            return Response(release_data(Release.objects.prefetch_related("files").get(pk=done.pk)))

        return idempotency.run_once(request, publish)


def _errors(form) -> dict:
    return {k: [str(m) for m in v] for k, v in form.errors.items()}


def _unknown_fields(request, allowed: set[str]) -> None:
    unknown = sorted((set(request.data) | set(request.FILES)) - allowed)
    if unknown:
        raise Problem(
            400,
            "The request has fields this endpoint does not accept.",
            errors={name: ["Unknown field."] for name in unknown},
        )


VERSION_NUMBER = re.compile(r"^(.*?)(\d+)$")


def next_version(book: Book) -> str:
    """The version a publish without one gets: the latest release's last number plus
    one (1.4 -> 1.5, 2.0-beta9 -> 2.0-beta10), else 1.0; never one that exists."""
    taken = set(book.releases.values_list("version", flat=True))
    latest = book.releases.order_by("-created_at", "-pk").values_list("version", flat=True).first()
    match = VERSION_NUMBER.match(latest or "")
    head, number = (match[1], int(match[2])) if match else ("1.", -1)
    candidate = f"{head}{number + 1}"
    while candidate in taken:
        number += 1
        candidate = f"{head}{number + 1}"
    return candidate


def build_data(build: Build) -> dict:
    return {
        "id": build.pk,
        "kind": build.kind,
        "status": build.status,
        "percent": build.percent,
        "message": build.message,
        "error": build.error,
        "version": build.version,
        "finished": build.is_finished,
        "release_version": build.release.version if build.release_id else None,
        "url": reverse("api:build", kwargs={"slug": build.book.slug, "build_id": build.pk}),
    }


class StartBuild(ApiView):
    """Preview or publish the manuscript (after replacing it with an uploaded zip)."""

    parser_classes = [MultiPartParser]
    required_scope = ApiKey.Scope.PUBLISH
    kind = Build.Kind.PREVIEW

    @extend_schema(
        request={"multipart/form-data": BuildRequestSerializer},
        parameters=[IDEMPOTENCY],
        responses={202: BuildSerializer, **problems(400, 404, 409, 413, 415, 422)},
    )
    def post(self, request, slug):
        book = _book(request, slug)
        _check_size(request.FILES.get("manuscript"), settings.MANUSCRIPT_ZIP_MAX_BYTES, "zip")
        allowed = {"manuscript", "notes"} | (
            {"version"} if self.kind == Build.Kind.PUBLISH else set()
        )
        _unknown_fields(request, allowed)
        return idempotency.run_once(request, lambda: self._start(request, book))

    def _start(self, request, book):
        version = request.data.get("version", "")
        if self.kind == Build.Kind.PUBLISH and not version:
            version = next_version(book)
        if version:
            form = ReleaseForm({"version": version})
            form.is_valid()
            if "version" in form.errors:
                raise Problem(422, " ".join(form.errors["version"]), errors=_errors(form))
        upload = request.FILES.get("manuscript")
        with transaction.atomic():
            if upload is not None:
                manuscript.import_zip(book=book, upload=upload)
            build = builds.request_build(
                book=book,
                kind=self.kind,
                user=request.user,
                version=version,
                notes=request.data.get("notes", ""),
            )
        build.book = book
        return Response(build_data(build), status=status.HTTP_202_ACCEPTED)


class PreviewBuild(StartBuild):
    kind = Build.Kind.PREVIEW


class PublishBuild(StartBuild):
    kind = Build.Kind.PUBLISH


class BuildDetail(ApiView):
    required_scope = ApiKey.Scope.PUBLISH

    @extend_schema(responses={200: BuildSerializer, **problems(404)})
    def get(self, request, slug, build_id):
        """A build's progress: poll until ``finished``."""
        book = _book(request, slug)
        build = get_object_or_404(Build.objects.select_related("release"), pk=build_id, book=book)
        build.book = book
        return Response(build_data(build))


DATE_FILTERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (inclusive)."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="To this day (inclusive)."),
]


def _date_param(request, name) -> date | None:
    text = request.query_params.get(name, "")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise Problem(400, f"{name}: use a date like 2026-01-31.") from exc


SALES_SCHEMA = extend_schema(
    parameters=[
        *DATE_FILTERS,
        OpenApiParameter("book", OpenApiTypes.STR, description="One of your books' slug."),
        OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor of a page."),
        OpenApiParameter("limit", OpenApiTypes.INT, description="Rows, 1 to 200 (50)."),
    ],
    responses={200: SalesPageSerializer, **problems(400, 404)},
)


class SalesList(ApiView):
    required_scope = ApiKey.Scope.READ_SALES
    kinds = ("sale", "refund")

    @SALES_SCHEMA
    def get(self, request):
        """Your sales and refunds, newest first, each with your royalty and payable date."""
        author = _author(request)
        params = request.query_params
        range_ = sales.date_range(_date_param(request, "since"), _date_param(request, "until"))
        book = _book(request, params["book"]) if params.get("book") else None
        limit = params.get("limit", str(sales.PAGE_SIZE))
        if not limit.isdigit() or not 1 <= int(limit) <= sales.MAX_PAGE_SIZE:
            raise Problem(400, f"limit: a whole number from 1 to {sales.MAX_PAGE_SIZE}.")
        page = sales.sales_page(
            author=author,
            range_=range_,
            book=book,
            kinds=self.kinds,
            cursor=params.get("cursor"),
            size=int(limit),
        )
        following = None
        if page.next_cursor:
            query = params.copy()
            query["cursor"] = page.next_cursor
            following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "results": [sales.as_row(e) for e in page.rows],
                "next_cursor": page.next_cursor,
                "next": following,
            }
        )


class RefundList(SalesList):
    kinds = ("refund",)

    @SALES_SCHEMA
    def get(self, request):
        """Your refunds only, newest first (the same rows and filters as sales)."""
        return super().get(request)


def earnings_row(row) -> dict:
    return {
        "book": row.book.slug if row.book else None,
        "title": row.book.title if row.book else None,
        "copies": row.copies,
        "free_copies": row.free_copies,
        "refunded_copies": row.refunded_copies,
        "gross_cents": row.gross_cents,
        "royalties_cents": row.royalties_cents,
        "refunds_cents": row.refunds_cents,
        "net_cents": row.net_cents,
    }


class EarningsSummary(ApiView):
    required_scope = ApiKey.Scope.READ_SALES

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "range", OpenApiTypes.STR, enum=list(earnings.RANGES), description="30d (default)."
            ),
            OpenApiParameter("start", OpenApiTypes.DATE, description="With range=custom."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="With range=custom."),
        ],
        responses={200: EarningsSerializer, **problems(400)},
    )
    def get(self, request):
        """The earnings dashboard's figures for a period, and your balances."""
        author = _author(request)
        key = request.query_params.get("range", "30d")
        if key not in earnings.RANGES:
            raise Problem(400, f"range: one of {', '.join(earnings.RANGES)}.")
        start, end = _date_param(request, "start"), _date_param(request, "end")
        if key == "custom" and (error := earnings.custom_range_error(start, end)):
            raise Problem(400, error)
        dashboard = earnings.cached_dashboard(
            author, earnings.date_range(key, start=start, end=end)
        )
        data, balances = dashboard.earnings, dashboard.earnings.balances
        return Response(
            {
                "range": data.range.key,
                "start": data.range.start,
                "end": data.range.end,
                "sales_count": dashboard.sales_count,
                "total": earnings_row(data.total),
                "books": [earnings_row(row) for row in data.books],
                "pending_cents": balances.pending_cents,
                "available_cents": balances.available_cents,
                "paid_out_cents": balances.paid_out_cents,
            }
        )
