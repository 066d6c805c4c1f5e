"""allauth's account app under a name of its own.

allauth calls its app (label ``account``: the sign-in e-mail addresses) "Accounts",
which made the admin index show two "Accounts" sections beside ours. Installed as
``accounts.signin_app.SignInConfig`` in place of ``allauth.account``; its name,
label and models are allauth's.
"""

from allauth.account.apps import AccountConfig


class SignInConfig(AccountConfig):
    verbose_name = "Sign-in e-mail addresses"
