"""Single-line text is one line: a CR or LF in a field typed into a one-line box is
a form error.

A browser strips line breaks from <input type=text|email|url|search|tel|password>,
so a CR or LF there comes from a crafted request; stored, it later splits an
e-mail header ("Foo\\r\\nBcc: x" as a book title), a CSV row or a log line. Every
form (ours, allauth's and the admin's, including the admin's generated model
forms) gets the rule from this one place: ``install()``, run once by
``StorefrontConfig.ready``, makes ``forms.CharField`` (and its subclasses: e-mail,
slug, URL, UUID, price fields) refuse line breaks when its widget is a one-line input.
Textareas and hidden inputs keep what they are sent. Like Django's own refusal of
NUL in every CharField, it is a field rule, not a per-form one, so a new form
cannot forget it.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.widgets import Input

SINGLE_LINE_TYPES = {"text", "email", "url", "search", "tel", "password", "number"}
LINE_BREAKS = ("\r", "\n")
MESSAGE = "Use a single line here: line breaks are not allowed."


def is_single_line(widget) -> bool:
    return isinstance(widget, Input) and widget.input_type in SINGLE_LINE_TYPES


def has_line_break(value) -> bool:
    return isinstance(value, str) and any(c in value for c in LINE_BREAKS)


def install() -> None:
    original = forms.CharField.to_python
    if getattr(original, "single_line_rule", False):
        return

    # In to_python, the one step every CharField subclass passes through with the
    # text still text (a UUID or price field converts it right after): the reader
    # sees this message rather than, say, "Enter a valid UUID".
    def to_python(self, value):
        value = original(self, value)
        if has_line_break(value) and is_single_line(self.widget):
            raise ValidationError(MESSAGE, code="single_line")
        return value

    to_python.single_line_rule = True
    forms.CharField.to_python = to_python
