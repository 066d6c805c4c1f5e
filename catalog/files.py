"""The private storage, and handing a private file to a reader after the caller has
checked they may have it.

How the bytes travel is a setting (PRIVATE_FILES_SERVE), not a code change:
- "django": FileResponse streams the file from the storage (local development);
- "x-accel": nginx serves it (``X-Accel-Redirect`` to an internal location mapped
  to the private storage), so no Python worker is tied up by a download;
- "redirect": a 302 to a URL of the object storage signed for
  PRIVATE_FILES_URL_EXPIRE seconds, which also tells the storage to answer with our
  file name as an attachment and our content type (core/object_storage.py).
"""

from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.functional import LazyObject, empty
from django.utils.http import content_disposition_header


class PrivateStorage(LazyObject):
    """``storages["private"]``, looked up when first used rather than when the models
    are imported, like Django's ``default_storage``. File fields keep the storage
    object they were given at import, so without this a test (or anything) that
    changes STORAGES would still write book files to the storage of the moment the
    models were loaded."""

    def _setup(self):
        self._wrapped = storages["private"]


private_storage = PrivateStorage()


@receiver(setting_changed)
def _forget_private_storage(*, setting, **kwargs):
    # Django resets default_storage and the storages cache on this signal (tests).
    if setting == "STORAGES":
        private_storage._wrapped = empty


def serve_private_file(file_field, *, filename: str, content_type: str):
    mode = settings.PRIVATE_FILES_SERVE
    disposition = content_disposition_header(as_attachment=True, filename=filename)
    if mode == "redirect":
        url = file_field.storage.url(
            file_field.name,
            parameters={
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            expire=settings.PRIVATE_FILES_URL_EXPIRE,
        )
        response = HttpResponseRedirect(url)
        # The URL is this reader's for a minute: no shared cache may keep it.
        response["Cache-Control"] = "private, no-store"
        return response
    if mode == "x-accel":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = (
            f"{settings.PRIVATE_FILES_ACCEL_PREFIX.rstrip('/')}/{quote(file_field.name)}"
        )
        response["Content-Disposition"] = disposition
        return response
    return FileResponse(
        file_field.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
