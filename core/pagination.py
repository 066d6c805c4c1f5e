"""What paginated pages share."""

from django.core.paginator import Paginator


class CountedPaginator(Paginator):
    """A paginator told its count (kept elsewhere: daily sums, a cache) instead of
    running COUNT(*) over what it pages."""

    def __init__(self, *args, count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._known_count = count

    @property
    def count(self):
        return self._known_count


def querystring_without_page(request) -> str:
    """The current filters, for the pagination links to append a page number to."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
