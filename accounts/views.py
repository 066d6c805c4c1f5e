from allauth.account import app_settings as allauth_settings
from allauth.account.utils import perform_login
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from core import ratelimit
from core.reader_pages import cache_for_readers

from .forms import LoginLinkRequestForm
from .login_links import LoginLinkError, read_login_link, send_login_link, use_login_link
from .return_to import is_safe_next
from .services import account_with_email, normalise_email


@cache_for_readers  # first: a hit loads no user
@login_required
def account(request):
    """The account overview: e-mail, password, author profile, admin link."""
    return render(
        request, "accounts/account.html", {"author": getattr(request.user, "author_profile", None)}
    )


def safe_next(request, url: str | None) -> str:
    """``url`` if it is a path on this site, else the home page (no open redirect)."""
    return url if is_safe_next(request, url) else reverse("home")


def _link_problem(request, error: LoginLinkError):
    """An expired, used or broken link: say which, and offer a new one by e-mail.
    A reader already signed in as the link's user just goes on to its page (their
    own sign-in is what ended the link)."""
    if error.user is not None and request.user.is_authenticated and request.user == error.user:
        return redirect(safe_next(request, error.next_url))
    form = LoginLinkRequestForm(
        initial={"email": error.user.email if error.user else "", "next": error.next_url}
    )
    status = 400 if error.reason == "invalid" else 410
    next_url = error.next_url if is_safe_next(request, error.next_url) else ""
    context = {"reason": error.reason, "form": form, "next_url": next_url}
    return render(request, "accounts/login_link_problem.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def login_link(request, token):
    """A one-time sign-in link. GET only asks to confirm (mail scanners fetch links
    and must not spend them); POST spends the link, signs in and goes on."""
    if request.method != "POST":
        try:
            link = read_login_link(token)
        except LoginLinkError as error:
            return _link_problem(request, error)
        return render(request, "accounts/login_link_confirm.html", {"link_user": link.user})
    try:
        link = use_login_link(token)
    except LoginLinkError as error:
        return _link_problem(request, error)
    user = link.user
    if not user.has_usable_password():
        messages.info(
            request,
            format_html(
                'You are signed in by your e-mail link. <a href="{}">Choose a password</a> '
                "to sign in without one next time.",
                reverse("account_set_password"),
            ),
        )
    return perform_login(
        request,
        user,
        email_verification=allauth_settings.EMAIL_VERIFICATION,
        redirect_url=safe_next(request, link.next_url),
        email=user.email,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@ratelimit.limit("login_link", account=lambda request: request.POST.get("email", ""))
def login_link_request(request):
    """E-mail a new sign-in link. The answer is the same whether the address has an
    account or not (no enumeration): "if it has one, a link is on its way"."""
    form = LoginLinkRequestForm(request.POST or None, initial={"next": request.GET.get("next", "")})
    if request.method == "POST" and form.is_valid():
        email = normalise_email(form.cleaned_data["email"])
        user = account_with_email(email)
        if user is not None and user.is_active:
            send_login_link(user, next_url=safe_next(request, form.cleaned_data["next"]))
        return render(request, "accounts/login_link_sent.html", {"email": email})
    return render(request, "accounts/login_link_request.html", {"form": form})
