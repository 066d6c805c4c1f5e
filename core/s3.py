"""The S3 storage class of core/object_storage.py.

django-storages stores an upload with the Content-Type its browser claimed. A
public object is then served by the bucket with that type, so a "cover" sent as
``text/html`` would be a page on the bucket's origin. Here the type comes from the
object's name only, which the store generates (catalog/models.py keeps just the
extension, and forms check that the content matches it).
"""

import mimetypes

from storages.backends.s3 import S3Storage as BaseS3Storage


class S3Storage(BaseS3Storage):
    def get_object_parameters(self, name):
        params = super().get_object_parameters(name)
        params["ContentType"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return params
