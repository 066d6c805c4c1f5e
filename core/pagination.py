"""What paginated pages share."""


def querystring_without_page(request) -> str:
    """The current filters, for the pagination links to append a page number to."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
