"""Static files: WhiteNoise's compressed manifest storage, each name's URL worked out once.

``{% static %}`` asks the storage for a URL on every render (the stylesheet and
the icon on every page): a manifest lookup, a path clean-up, a URL join and
quoting, about 50 µs a name on the bench machine. The manifest is read when the
process starts and ``collectstatic`` runs before the server does, so a name's URL
is the same for the process's life; it is kept per storage instance (a changed
``STORAGES`` setting makes a new one) and forgotten when ``collectstatic``
post-processes the files again in the same process (the test suite does).
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name, force=False):
        if force:
            return super().url(name, force)
        url = self._urls.get(name)
        if url is None:
            url = self._urls[name] = super().url(name)  # a missing file raises: not kept
        return url

    def post_process(self, *args, **kwargs):
        self._urls.clear()
        yield from super().post_process(*args, **kwargs)
        self._urls.clear()
