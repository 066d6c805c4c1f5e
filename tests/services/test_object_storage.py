"""Book files and covers on S3-compatible storage (STORAGE_URL), against a real S3 API:
moto's server on a loopback port. Book files are private objects reached only through
a short-lived signed URL after the ownership check; covers are public at plain URLs."""

import datetime
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from catalog import services as catalog
from catalog.models import Book, Release
from core.object_storage import MEDIA_CACHE_CONTROL, ObjectStorage
from library.models import Entitlement
from tests.catalog.test_author_books import epub_bytes
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory, book_form_data
from tests.library.test_library import buy
from tests.services.conftest import _free_port

pytestmark = [pytest.mark.services, pytest.mark.django_db]

ACCESS_KEY, SECRET_KEY, REGION = "storefront-test", "storefront-test-secret", "us-east-1"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EPUB = b"PK epub"
# Reaches loopback directly even where an HTTP proxy is configured.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str):
    """(status, headers, body) of a plain GET, as a browser or a curl would do it."""
    try:
        with http.open(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# --- The S3 server ------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free loopback port, for the whole session (per xdist worker)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require(False, "moto[server] is not installed (make install-dev)")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    endpoint: str
    client: object

    def object_keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def plain_url(self, key: str) -> str:
        return f"{self.endpoint}/{self.name}/{key}"


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """A new bucket, and the store switched to it exactly as STORAGE_URL would do:
    the storages, downloads by redirect, and the CSP. The bucket policy makes the
    media prefix public, as docs/architecture.md tells operators to."""
    import boto3

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    name = f"storefront-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=name)
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(public_media_policy(name)))

    config = ObjectStorage.from_url(
        f"s3://{name}?endpoint_url={s3_endpoint}&region={REGION}&addressing_style=path"
    )
    storages = config.storages(url_expire=settings.PRIVATE_FILES_URL_EXPIRE)
    for entry in storages.values():
        entry["OPTIONS"].update(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    settings.STORAGES = {**settings.STORAGES, **storages}
    settings.PRIVATE_FILES_SERVE = "redirect"
    csp = json.loads(json.dumps(django_settings.CONTENT_SECURITY_POLICY))
    csp["DIRECTIVES"]["img-src"] += config.media_origins()
    settings.CONTENT_SECURITY_POLICY = csp
    return Bucket(name=name, endpoint=s3_endpoint, client=client)


def public_media_policy(bucket: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicMedia",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/media/*",
            }
        ],
    }


def verify_presigned(url: str, *, secret: str) -> dict:
    """The URL's query parameters, after checking its AWS Signature V4 with ``secret``.

    moto serves any URL that carries a signature without checking it (or its expiry);
    S3 and MinIO check both. Recomputing the signature here proves what they would
    enforce: the URL is signed with our key, and its date, lifetime and response
    headers are part of what is signed, so nobody can extend or alter them."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = params.pop("X-Amz-Signature")
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-SignedHeaders"] == "host"
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())
    canonical_request = "\n".join(
        [
            "GET",
            parts.path,
            "&".join(f"{k}={v}" for k, v in encoded),
            f"host:{parts.netloc}\n",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    _, scope = params["X-Amz-Credential"].split("/", 1)
    date, region, service, _ = scope.split("/")
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected), "the URL's signature does not verify"
    return params


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 40), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def publish(book):
    release = catalog.create_release(
        book=book,
        version="1.0",
        files={"pdf": ContentFile(PDF, name="b.pdf"), "epub": ContentFile(EPUB, name="b.epub")},
    )
    catalog.publish_release(release=release)
    book.refresh_from_db()
    return release


def download_url(book, fmt="pdf"):
    return reverse("library:download", args=[book.slug, book.current_release_id, fmt])


# --- Book files -----------------------------------------------------------------------


def test_an_authors_upload_is_an_object_in_the_bucket_not_a_local_file(client, s3, tmp_path):
    author = AuthorFactory()
    book = BookFactory(authors=[author])
    client.force_login(author.user)

    response = client.post(
        reverse("catalog:release_create", args=[book.slug]),
        {
            "version": "1.0",
            "pdf": SimpleUploadedFile("mine.pdf", PDF, content_type="text/html"),
            "epub": SimpleUploadedFile("mine.epub", epub_bytes()),
        },
    )

    assert response.status_code == 302
    pdf = Release.objects.get(book=book).files.get(format="pdf")
    key = f"private/{pdf.file.name}"
    assert pdf.file.name.startswith(f"releases/{book.pk}/") and "mine" not in pdf.file.name
    assert key in s3.object_keys()
    assert s3.read(key) == PDF
    # Typed by the name the store generated, never by what the browser claimed.
    assert s3.client.head_object(Bucket=s3.name, Key=key)["ContentType"] == "application/pdf"
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_book_files_are_private_objects(s3):
    release = publish(BookFactory())
    key = f"private/{release.files.get(format='pdf').file.name}"

    grants = s3.client.get_object_acl(Bucket=s3.name, Key=key)["Grants"]
    assert [g["Grantee"].get("URI") for g in grants if g["Grantee"]["Type"] == "Group"] == []
    status, _, body = fetch(s3.plain_url(key))
    assert status == 403 and PDF not in body


def test_the_owner_is_redirected_to_a_short_lived_signed_url_of_the_file(client, s3, settings):
    settings.PRIVATE_FILES_URL_EXPIRE = 30
    book = BookFactory(slug="the-stack")
    release = publish(book)
    owner = UserFactory()
    buy(owner, book)
    client.force_login(owner)

    response = client.get(download_url(book))

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    key = f"private/{release.files.get(format='pdf').file.name}"
    assert location.startswith(s3.plain_url(key) + "?")
    signed = verify_presigned(location, secret=SECRET_KEY)
    assert signed["X-Amz-Expires"] == "30"
    signed_at = datetime.datetime.strptime(signed["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.UTC
    )
    assert abs((datetime.datetime.now(datetime.UTC) - signed_at).total_seconds()) < 60
    assert signed["response-content-disposition"] == 'attachment; filename="the-stack-v1.0.pdf"'
    assert signed["response-content-type"] == "application/pdf"

    status, headers, body = fetch(location)
    assert (status, body) == (200, PDF)
    assert headers["Content-Disposition"] == 'attachment; filename="the-stack-v1.0.pdf"'
    assert headers["Content-Type"] == "application/pdf"
    assert release.files.get(format="pdf").download_count == 1


@pytest.mark.parametrize("who", ["anonymous", "stranger", "refunded"])
def test_non_owners_get_no_signed_url(client, s3, who):
    book = BookFactory()
    publish(book)
    owner = UserFactory()
    buy(owner, book)
    if who == "stranger":
        client.force_login(UserFactory())
    if who == "refunded":
        Entitlement.objects.filter(user=owner).update(revoked_at="2026-01-01T00:00:00Z")
        client.force_login(owner)

    response = client.get(download_url(book))

    assert response.status_code in (302, 403, 404)
    location = response.get("Location", "")
    assert s3.endpoint not in location and "Signature" not in location
    if who == "anonymous":
        assert location.startswith(reverse("account_login"))


def test_the_free_sample_is_a_signed_redirect_for_anyone(client, s3):
    book = BookFactory(slug="sampled")
    catalog.set_sample_file(book=book, fmt="pdf", upload=ContentFile(PDF, name="s.pdf"))

    response = client.get(reverse("catalog:sample_download", args=[book.slug, "pdf"]))

    assert response.status_code == 302
    signed = verify_presigned(response["Location"], secret=SECRET_KEY)
    assert signed["response-content-disposition"] == 'attachment; filename="sampled-sample.pdf"'
    assert fetch(response["Location"])[2] == PDF


# --- Covers ---------------------------------------------------------------------------


def test_a_cover_is_public_at_a_plain_stable_url_the_page_may_show(client, s3):
    author = AuthorFactory()
    client.force_login(author.user)
    image = png_bytes()
    response = client.post(
        reverse("catalog:book_create"),
        book_form_data(
            status="completed",
            cover=SimpleUploadedFile("cover.png", image, content_type="text/html"),
        ),
    )
    assert response.status_code == 302
    book = Book.objects.get()
    key = f"media/{book.cover.name}"
    assert key in s3.object_keys()
    assert s3.client.head_object(Bucket=s3.name, Key=key)["ContentType"] == "image/png"

    client.logout()
    page = client.get(book.get_absolute_url())
    url = s3.plain_url(key)
    assert f'src="{url}"' in page.content.decode()
    assert f'<meta property="og:image" content="{url}">' in page.content.decode()
    img_src = next(
        d for d in page["Content-Security-Policy"].split(";") if d.strip().startswith("img-src")
    )
    assert s3.endpoint in img_src.split()

    status, headers, body = fetch(url)
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == MEDIA_CACHE_CONTROL
    assert body[:8] == b"\x89PNG\r\n\x1a\n"


# --- Configuration --------------------------------------------------------------------


def test_storage_url_options_are_read_and_mistakes_refused():
    config = ObjectStorage.from_url(
        "s3://books/prod?endpoint_url=https://minio.example:9000&region=eu-west-1"
        "&addressing_style=path&media_domain=cdn.example.com"
    )

    assert config == ObjectStorage(
        bucket="books",
        prefix="prod",
        endpoint_url="https://minio.example:9000",
        region="eu-west-1",
        addressing_style="path",
        media_domain="cdn.example.com",
    )
    storages = config.storages(url_expire=60)
    assert storages["private"]["OPTIONS"]["location"] == "prod/private"
    assert storages["private"]["OPTIONS"]["querystring_auth"] is True
    assert storages["private"]["OPTIONS"]["default_acl"] is None
    assert storages["default"]["OPTIONS"]["location"] == "prod/media"
    assert config.media_origins() == ["https://cdn.example.com"]
    for bad in (
        "https://books",
        "s3://",
        "s3://key:secret@books",
        "s3://books?region=x&acl=public-read",
        "s3://books?addressing_style=sideways",
        "s3://books?endpoint_url=minio:9000",
    ):
        with pytest.raises(ValueError):
            ObjectStorage.from_url(bad)


def settings_in_subprocess(**env) -> dict:
    """The settings a fresh process reads from this environment (nothing inherited)."""
    code = (
        "import json, storefront.settings as s;"
        "print(json.dumps({'private': s.STORAGES['private']['BACKEND'],"
        "'default': s.STORAGES['default']['BACKEND'], 'serve': s.PRIVATE_FILES_SERVE,"
        "'img': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']}))"
    )
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=Path(django_settings.BASE_DIR),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout)


def test_storage_url_switches_files_to_s3_and_downloads_to_redirects():
    assert settings_in_subprocess(
        STORAGE_URL="s3://books?endpoint_url=http://127.0.0.1:9000&addressing_style=path"
    ) == {
        "private": "core.s3.S3Storage",
        "default": "core.s3.S3Storage",
        "serve": "redirect",
        "img": ["'self'", "data:", "http://127.0.0.1:9000"],
    }
    via_aws_names = settings_in_subprocess(
        AWS_STORAGE_BUCKET_NAME="books", AWS_S3_REGION_NAME="eu-west-1"
    )
    assert via_aws_names["private"] == "core.s3.S3Storage"
    assert "https://books.s3.eu-west-1.amazonaws.com" in via_aws_names["img"]


def test_without_object_storage_files_stay_local_as_before():
    assert settings_in_subprocess() == {
        "private": "django.core.files.storage.FileSystemStorage",
        "default": "django.core.files.storage.FileSystemStorage",
        "serve": "django",
        "img": ["'self'", "data:"],
    }
    assert "needs object storage" in settings_in_subprocess(PRIVATE_FILES_SERVE="redirect")["error"]
    assert (
        "use redirect"
        in settings_in_subprocess(STORAGE_URL="s3://books", PRIVATE_FILES_SERVE="x-accel")["error"]
    )
