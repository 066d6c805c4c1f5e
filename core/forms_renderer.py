"""The form renderer: Django's, with its one-line ``<input>`` widgets written in Python.

Every text, e-mail, password, number, hidden or checkbox field of every form is an
``<input>`` tag that Django renders through three nested templates
(``text.html`` → ``input.html`` → ``attrs.html``): about 600 Python calls a field,
a fifth of the whole payment page (three card fields). ``InputsRenderer`` writes the
same tag directly, byte for byte what the templates give (tests/core/
test_forms_renderer.py compares them for every such widget), and leaves every other
template to Django.

It does so only for templates whose source is still exactly the stock one: if a
project or a Django release changes ``input.html``, ``attrs.html`` or one of the
widget templates that include it, that template goes back to being rendered as a
template, so an override always wins.
"""

from functools import cached_property

from django.forms.renderers import DjangoTemplates
from django.template import TemplateDoesNotExist
from django.utils.html import escape
from django.utils.safestring import SafeData, mark_safe

INPUT = "django/forms/widgets/input.html"
ATTRS = "django/forms/widgets/attrs.html"
_STOCK = {
    INPUT: (
        '<input type="{{ widget.type }}" name="{{ widget.name }}"{% if widget.value != None %}'
        " value=\"{{ widget.value|stringformat:'s' }}\"{% endif %}"
        '{% include "django/forms/widgets/attrs.html" %}>'
    ),
    ATTRS: (
        "{% for name, value in widget.attrs.items %}{% if value is not False %} {{ name }}"
        "{% if value is not True %}=\"{{ value|stringformat:'s' }}\"{% endif %}{% endif %}"
        "{% endfor %}"
    ),
}
# Widgets whose template is nothing but the input (input_option.html adds a label).
_INCLUDING = (
    "checkbox",
    "color",
    "date",
    "datetime",
    "email",
    "file",
    "hidden",
    "number",
    "password",
    "search",
    "tel",
    "text",
    "time",
    "url",
)
_INCLUDE_ONLY = '{% include "django/forms/widgets/input.html" %}'


def _text(value) -> str:
    """``{{ value }}`` (or ``|stringformat:'s'``) autoescaped: a safe string stays as it is."""
    return str(value) if isinstance(value, SafeData) else escape(str(value))


def input_tag(widget: dict) -> str:
    """The ``<input>`` of a widget's template context, as input.html renders it."""
    parts = [f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"']
    if widget["value"] != None:  # noqa: E711 - the template's own comparison
        parts.append(f' value="{_text(widget["value"])}"')
    for name, value in widget["attrs"].items():
        if value is False:
            continue
        parts.append(f" {_text(name)}" if value is True else f' {_text(name)}="{_text(value)}"')
    parts.append(">")
    return mark_safe("".join(parts))


class InputsRenderer(DjangoTemplates):
    @cached_property
    def _fast_templates(self) -> frozenset[str]:
        """The widget templates that are still the stock input (none if input.html
        or attrs.html is not)."""
        if any(self._source(name) != source for name, source in _STOCK.items()):
            return frozenset()
        names = (f"django/forms/widgets/{name}.html" for name in _INCLUDING)
        return frozenset(name for name in names if self._source(name) == _INCLUDE_ONLY)

    def _source(self, name: str) -> str | None:
        try:
            return self.get_template(name).template.source.strip()
        except TemplateDoesNotExist:
            return None

    def render(self, template_name, context, request=None):
        if template_name in self._fast_templates:
            return input_tag(context["widget"])
        return super().render(template_name, context, request=request)
