"""Book files and covers on S3-compatible object storage (AWS S3, MinIO, Ceph, ...).

One setting says where: ``STORAGE_URL=s3://BUCKET[/PREFIX][?option=value&...]`` with
the options

- ``endpoint_url``: the server, for anything that is not AWS
  (``https://minio.example.com:9000``);
- ``region``: the bucket's region (``eu-west-1``); signatures need it on AWS;
- ``addressing_style``: ``path`` (``https://host/BUCKET/key``, what MinIO wants) or
  ``virtual`` (``https://BUCKET.host/key``); botocore chooses when unset;
- ``media_domain``: a CDN host serving the public media prefix (``cdn.example.com``).

Credentials never go in the URL: boto3 takes them from ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` or the machine's role, as usual.

The bucket holds two prefixes (under PREFIX when given):

- ``private/``: book files, samples, manuscript images and previews (the ``private``
  storage). Objects are uploaded without an ACL, so they are as private as the
  bucket: nobody reads them without a signature. Readers get a redirect to a URL
  signed for ``PRIVATE_FILES_URL_EXPIRE`` seconds (catalog/files.py).
- ``media/``: covers and author photos (the ``default`` storage). These are public
  and their URLs are plain and stable, so cached pages and CDNs can hold them; the
  bucket makes them readable with a policy on this prefix only (docs/architecture.md).

This module reads no Django settings: storefront/settings.py calls it.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

S3_BACKEND = "core.s3.S3Storage"
ADDRESSING_STYLES = ("", "path", "virtual")
# Media names are unique (generated), so a cached copy never goes stale.
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class ObjectStorage:
    bucket: str
    prefix: str = ""
    endpoint_url: str = ""
    region: str = ""
    addressing_style: str = ""
    media_domain: str = ""

    def __post_init__(self):
        if not self.bucket:
            raise ValueError("object storage: a bucket name is required")
        if self.addressing_style not in ADDRESSING_STYLES:
            raise ValueError(
                f"object storage: addressing_style must be path or virtual, "
                f"not {self.addressing_style!r}"
            )
        if self.endpoint_url and urlsplit(self.endpoint_url).scheme not in ("http", "https"):
            raise ValueError(
                f"object storage: endpoint_url must be http(s)://…, not {self.endpoint_url!r}"
            )

    @classmethod
    def from_url(cls, url: str) -> "ObjectStorage":
        """``s3://bucket/prefix?endpoint_url=…&region=…`` -> ObjectStorage; ValueError if bad."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise ValueError(f"STORAGE_URL must start with s3://, not {url!r}")
        if parts.username or parts.password:
            raise ValueError("STORAGE_URL: no credentials in the URL; use AWS_ACCESS_KEY_ID/…")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = set(options) - {"endpoint_url", "region", "addressing_style", "media_domain"}
        if unknown:
            raise ValueError(f"STORAGE_URL: unknown option(s) {', '.join(sorted(unknown))}")
        return cls(bucket=parts.hostname or "", prefix=parts.path.strip("/"), **options)

    def _location(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def storages(self, *, url_expire: int) -> dict:
        """The ``default`` (public media) and ``private`` entries of Django's STORAGES."""
        common = {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint_url or None,
            "region_name": self.region or None,
            "addressing_style": self.addressing_style or None,
            "signature_version": "s3v4",
            # No ACL on upload: objects get the bucket's (private) default.
            "default_acl": None,
            # Names are generated and unique; skip the HEAD request that checks.
            "file_overwrite": True,
        }
        return {
            "default": {
                "BACKEND": S3_BACKEND,
                "OPTIONS": {
                    **common,
                    "location": self._location("media"),
                    "querystring_auth": False,
                    "custom_domain": self.media_domain or None,
                    "object_parameters": {"CacheControl": MEDIA_CACHE_CONTROL},
                },
            },
            "private": {
                "BACKEND": S3_BACKEND,
                "OPTIONS": {
                    **common,
                    "location": self._location("private"),
                    "querystring_auth": True,
                    "querystring_expire": url_expire,
                    "custom_domain": None,
                },
            },
        }

    def media_origins(self) -> list[str]:
        """Where media URLs point, for the CSP's ``img-src``."""
        if self.media_domain:
            return [f"https://{self.media_domain}"]
        if self.endpoint_url:
            endpoint = urlsplit(self.endpoint_url)
            return self._styled_origins(endpoint.scheme, endpoint.netloc)
        aws_hosts = ["s3.amazonaws.com"] + (
            [f"s3.{self.region}.amazonaws.com"] if self.region else []
        )
        return [origin for host in aws_hosts for origin in self._styled_origins("https", host)]

    def _styled_origins(self, scheme: str, host: str) -> list[str]:
        path, virtual = f"{scheme}://{host}", f"{scheme}://{self.bucket}.{host}"
        return {"path": [path], "virtual": [virtual]}.get(self.addressing_style, [virtual, path])
