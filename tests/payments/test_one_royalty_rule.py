"""The royalty rule lives in payments/royalties.py (and the 99¢ minimum in
storefront/money.py): every page that states it renders it from there, so
changing the rule changes every text (issue #18)."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from payments import royalties
from tests.factories import BookFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def a_new_rule(monkeypatch):
    """70% royalties, minus a 30¢ fee below $9.99."""
    monkeypatch.setattr(royalties, "ROYALTY_RATE", Decimal("0.70"))
    monkeypatch.setattr(royalties, "FLAT_FEE_CENTS", 30)
    monkeypatch.setattr(royalties, "FLAT_FEE_BELOW_CENTS", 999)


NEW_RULE_IN_WORDS = (
    "Authors earn 70% royalties on purchases of $9.99 or more, and 70% royalties minus "
    "a $0.30 flat fee on purchases between $0.99 and $9.98."
)


def get(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_book_page_states_and_computes_the_rule_in_force(client, a_new_rule):
    book = BookFactory(minimum_price_cents=499, suggested_price_cents=2499)

    html = get(client, reverse("catalog:book", args=[book.slug]))

    assert NEW_RULE_IN_WORDS in html
    assert "Earn $7.00 on a $10 Purchase, and $14.00 on a $20 Purchase" in html
    assert "Author earns <strong data-author-earns>$17.49</strong>" in html  # 70% of $24.99
    # The browser's live figure (static/js/pricing.js) gets the same numbers.
    assert "&quot;rate_percent&quot;: 70, &quot;fee_cents&quot;: 30" in html
    assert "&quot;fee_below_cents&quot;: 999, &quot;min_paid_cents&quot;: 99" in html
    # (Not a bare "80%": a URL-encoded address like "book-480%2F" holds one.)
    assert "80% royalt" not in html and "$7.99" not in html


@pytest.mark.django_db
def test_checkout_shows_what_the_author_earns_under_the_rule_in_force(client, a_new_rule):
    client.force_login(UserFactory())
    book = BookFactory(minimum_price_cents=499, suggested_price_cents=2499)

    response = client.post(reverse("payments:checkout", args=[book.slug]), {"amount": "5.00"})

    assert response.status_code == 200
    assert '<dd data-testid="author-earns">$3.20</dd>' in response.content.decode()  # $3.50 - 30¢


@pytest.mark.django_db
def test_the_pages_for_authors_state_the_rule_in_force(client, a_new_rule):
    royalties_page = get(client, reverse("royalties"))
    assert NEW_RULE_IN_WORDS in royalties_page
    assert "Earn $7.00 on a $10 purchase, and $14.00 on a $20 purchase" in royalties_page
    # The examples sit on the new rule's edges: the last price with the fee, the first without.
    assert "<td>$9.98</td><td>$6.69</td>" in royalties_page
    assert "<td>$9.99</td><td>$6.99</td>" in royalties_page
    assert "80%" not in royalties_page

    client.force_login(UserFactory())
    account_page = get(client, reverse("account"))
    assert "Write and sell your own books: 70% royalties" in account_page


# The rule's texts, typed again: "80%", "50 cent"/"50¢", "$7.99", "$0.99"/"99¢".
TYPED_RULE = re.compile(r"80%|50 ?¢|50 cent|7\.99|0\.99|99 ?¢")
# The 99¢ minimum as a bare number where prices or cents are handled.
TYPED_MINIMUM = re.compile(r"(cents|price|amount).*(?<![\w.$])99(?![\w.])")
# var/ holds collected static files and media (copies), not code.
SKIPPED_DIRS = {".git", ".venv", "var", "node_modules", "tests", "migrations", "docs", "bench"}
RULE_FILES = {"payments/royalties.py", "storefront/money.py", "core/money.py"}


def project_files():
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path.suffix in {".py", ".html", ".txt", ".js"} and str(relative) not in RULE_FILES:
            yield relative, path


def test_no_code_or_template_types_the_rule_again():
    typed = []
    for relative, path in project_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if TYPED_RULE.search(line) or (path.suffix == ".py" and TYPED_MINIMUM.search(line)):
                typed.append(f"{relative}:{number}: {line.strip()}")
    assert typed == [], "the royalty rule typed outside payments/royalties.py:\n" + "\n".join(typed)


def test_the_search_for_typed_rules_finds_them():
    """The search above would catch a template or a model that typed the rule."""
    assert TYPED_RULE.search("Authors earn 80% royalties on purchases of $7.99 or more")
    assert TYPED_RULE.search("a 50 cent flat fee") and TYPED_RULE.search("at least 99¢")
    assert TYPED_MINIMUM.search("condition=Q(amount_cents=0) | Q(amount_cents__gte=99)")
    assert not TYPED_MINIMUM.search('parse_price("12.99")')
    assert any(
        relative == Path("templates/catalog/book_detail.html") for relative, _ in project_files()
    )
