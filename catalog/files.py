"""Handing a private file to the reader, after the caller has checked they may have it.

How the bytes travel is a setting (PRIVATE_FILES_SERVE), not a code change:
- "django": FileResponse streams the file from the storage (local development);
- "x-accel": nginx serves it (``X-Accel-Redirect`` to an internal location mapped
  to the private storage), so no Python worker is tied up by a download;
- "redirect": a redirect to a short-lived signed URL from remote storage (S3's
  ``storage.url()`` signs with ``querystring_expire``).
"""

from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseRedirect


def serve_private_file(file_field, *, filename: str, content_type: str):
    mode = settings.PRIVATE_FILES_SERVE
    if mode == "redirect":
        return HttpResponseRedirect(file_field.storage.url(file_field.name))
    if mode == "x-accel":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = (
            f"{settings.PRIVATE_FILES_ACCEL_PREFIX.rstrip('/')}/{quote(file_field.name)}"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        file_field.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
