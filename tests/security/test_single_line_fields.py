"""No form of the store accepts a line break in a one-line field: every form class
of the project, the admin's forms of every registered model and allauth's account
forms are walked, CR/LF is posted into each single-line text field, and each one
answers the same clear error (core/single_line.py). Text areas keep theirs."""

import importlib
import pkgutil

import pytest
from allauth.account import forms as allauth_forms
from django import forms
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from catalog.models import Book
from core.single_line import MESSAGE, is_single_line
from payments.bundle_purchases import Offer
from payments.pricing import PriceRange
from tests.factories import AuthorFactory, UserFactory, book_form_data

pytestmark = pytest.mark.django_db

APPS = ("accounts", "catalog", "library", "payments", "storefront")
BROKEN = "Foo\r\nBcc: victim@example.com"
MULTI_LINE = "First paragraph.\r\n\r\nSecond paragraph."


def project_form_classes() -> list[type]:
    """Every form class defined in the project's own modules."""
    for app in APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" not in module.name and ".management" not in module.name:
                importlib.import_module(module.name)
    found, todo = [], [forms.BaseForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        model_less = hasattr(cls, "_meta") and cls._meta.model is None  # a base class
        if cls.__module__.split(".")[0] in APPS and not model_less:
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


ALLAUTH_FORMS = [
    allauth_forms.LoginForm,
    allauth_forms.ResetPasswordForm,
    allauth_forms.AddEmailForm,
    allauth_forms.ChangePasswordForm,
]


@pytest.fixture
def context():
    user = UserFactory(is_staff=True, is_superuser=True)
    request = RequestFactory().post("/")
    request.user = user
    request.session = {}
    return {
        "user": user,
        "request": request,
        "book": Book(minimum_price_cents=0, suggested_price_cents=500),
        "offer": Offer(
            bundle=None, books=[], owned=[], weights=[], bounds=PriceRange(99, 500, 5000)
        ),
    }


# The keyword arguments a form needs besides its data. A new form needing others
# fails the walk below with a TypeError: add it here, so it is walked too.
NEEDS = {
    "AmountForm": ["book"],
    "BundleAmountForm": ["offer"],
    "LoginForm": ["request"],
    "AddEmailForm": ["user"],
    "ChangePasswordForm": ["user"],
}


def bound(form_class, context, data=None):
    kwargs = {name: context[name] for name in NEEDS.get(form_class.__name__, [])}
    return form_class(data=data, **kwargs)


def one_line_and_multi_line_fields(form):
    single, multi = [], []
    for name, field in form.fields.items():
        if not isinstance(field, forms.CharField) or field.disabled:
            continue
        if is_single_line(field.widget):
            single.append(name)
        elif isinstance(field.widget, forms.Textarea):
            multi.append(name)
    return single, multi


def check(form_class, context) -> int:
    single, multi = one_line_and_multi_line_fields(bound(form_class, context))
    data = {**dict.fromkeys(single, BROKEN), **dict.fromkeys(multi, MULTI_LINE)}
    form = bound(form_class, context, data)
    form.is_valid()
    for name in single:
        assert MESSAGE in form.errors.get(name, []), (form_class, name, form.errors.get(name))
    for name in multi:
        assert MESSAGE not in form.errors.get(name, []), (form_class, name)
    return len(single)


def test_every_project_form_refuses_line_breaks_in_its_one_line_fields(context):
    classes = project_form_classes()
    names = {c.__name__ for c in classes}
    assert {"BookForm", "PublishForm", "CoAuthorForm", "PayoutAccountForm"} <= names

    checked = sum(check(form_class, context) for form_class in classes)

    assert checked >= 20  # the walk was not vacuous


def test_every_admin_form_refuses_line_breaks_in_its_one_line_fields(context):
    checked = 0
    for model_admin in admin.site._registry.values():
        form_class = model_admin.get_form(context["request"], obj=None)
        checked += check(form_class, context)

    assert checked >= 10


def test_allauths_account_forms_refuse_line_breaks_too(context):
    assert sum(check(form_class, context) for form_class in ALLAUTH_FORMS) >= 3


def test_a_book_titled_with_a_line_break_is_refused_with_a_clear_error(client):
    author = AuthorFactory()
    client.force_login(author.user)

    response = client.post(reverse("catalog:book_create"), book_form_data(title=BROKEN))

    assert MESSAGE in response.content.decode()
    assert not Book.objects.exists()
