from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def account(request):
    """The account overview: e-mail, password, author profile, admin link."""
    return render(
        request, "accounts/account.html", {"author": getattr(request.user, "author_profile", None)}
    )
