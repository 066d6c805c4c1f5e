from allauth.account.forms import SignupForm as AllauthSignupForm

from storefront import ratelimit


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, with a limit on sign-up e-mails per address.

    A valid sign-up sends an e-mail to the address (a verification, or "you
    already have an account"), so someone could flood a stranger's inbox from
    many IPs. The count is the same whether the address has an account or not.
    """

    def try_save(self, request):
        usage = ratelimit.consume(request, "signup", account=self.cleaned_data.get("email"))
        if not usage.allowed:
            return None, ratelimit.too_many_requests(request)
        return super().try_save(request)
