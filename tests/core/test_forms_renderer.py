"""The form renderer writes <input> widgets itself: byte for byte what Django's
templates give, and a changed template is rendered as a template again."""

from functools import cached_property
from pathlib import Path

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from core.forms_renderer import InputsRenderer

STOCK = DjangoTemplates()
STOCK_DIR = Path(forms.__file__).parent / "templates"

WIDGETS = [
    forms.TextInput(),
    forms.TextInput(attrs={"placeholder": 'Say "hi" <now> & go', "required": True}),
    forms.EmailInput(attrs={"autocomplete": "email", "disabled": False}),
    forms.PasswordInput(render_value=True),
    forms.PasswordInput(),
    forms.NumberInput(attrs={"min": 0, "step": "0.01"}),
    forms.HiddenInput(),
    forms.URLInput(),
    forms.SearchInput(),
    forms.TelInput(),
    forms.ColorInput(),
    forms.DateInput(),
    forms.TimeInput(),
    forms.DateTimeInput(),
    forms.FileInput(),
    forms.CheckboxInput(),
]
VALUES = [None, "", "plain", 'quote " and <tag> & amp', mark_safe("<b>kept</b>"), 12, 3.5, True]


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: type(w).__name__)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_input_widget_renders_as_the_templates_do(widget, value):
    attrs = {"id": "id_x", "aria-describedby": "id_x_helptext"}
    fast = widget.render("field", value, attrs=attrs, renderer=InputsRenderer())
    assert fast == widget.render("field", value, attrs=attrs, renderer=STOCK)
    assert fast.startswith("<input ")


class Card(forms.Form):
    number = forms.CharField(max_length=19, help_text="16 digits")
    email = forms.EmailField()
    agree = forms.BooleanField(required=False)
    choice = forms.ChoiceField(choices=[("a", "A <1>"), ("b", "B")], widget=forms.RadioSelect)
    note = forms.CharField(widget=forms.Textarea)
    code = forms.CharField(widget=forms.HiddenInput)


@pytest.mark.parametrize("data", [None, {"number": "<4242>", "agree": "on", "choice": "b"}])
def test_a_whole_form_renders_as_the_templates_do_bound_or_not(data):
    fast = Card(data, renderer=InputsRenderer())
    stock = Card(data, renderer=STOCK)
    assert str(fast) == str(stock)
    assert "<textarea" in str(fast) and 'type="radio"' in str(fast)


def test_the_site_renders_its_forms_with_it():
    from django.forms.renderers import get_default_renderer

    assert isinstance(get_default_renderer(), InputsRenderer)


def test_a_changed_input_template_is_rendered_as_a_template(tmp_path):
    override = tmp_path / "django" / "forms" / "widgets"
    override.mkdir(parents=True)
    (override / "input.html").write_text('<input data-mine type="{{ widget.type }}">')

    class Overridden(InputsRenderer):
        @cached_property
        def engine(self):
            return self.backend(
                {"APP_DIRS": True, "DIRS": [tmp_path, STOCK_DIR], "NAME": "mine", "OPTIONS": {}}
            )

    renderer = Overridden()
    assert renderer._fast_templates == frozenset()
    assert forms.TextInput().render("x", "v", renderer=renderer) == '<input data-mine type="text">'


def test_the_stock_templates_are_all_written_directly():
    assert len(InputsRenderer()._fast_templates) == 14
