from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth.hashers import make_password

from core import ratelimit


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, with a limit on sign-up e-mails per address.

    A valid sign-up sends an e-mail to the address (a verification, or "you
    already have an account"), so someone could flood a stranger's inbox from
    many IPs. The count is the same whether the address has an account or not.

    Both paths also take the same time: a new address costs a password hash
    (the slow part, ~200 ms) and a user; a taken one only an e-mail, so the
    answer's timing told who has an account. A taken address's password is
    hashed too, with the real hasher, and thrown away.
    """

    def try_save(self, request):
        usage = ratelimit.consume(request, "signup", account=self.cleaned_data.get("email"))
        if not usage.allowed:
            return None, ratelimit.too_many_requests(request)
        if self.account_already_exists:
            make_password(self.cleaned_data["password1"])
        return super().try_save(request)


class LoginForm(AllauthLoginForm):
    """allauth's login without its "Forgot your password?" help text under the
    password: the login page links to the reset once, below the form."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = ""


class LoginLinkRequestForm(forms.Form):
    """Ask for a new one-time sign-in link (the page of an expired or used one)."""

    email = forms.EmailField(label="Your e-mail address", max_length=254)
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)
