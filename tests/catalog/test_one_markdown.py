"""A book's chapter and a book's page render an author's Markdown alike: one
dialect and one allow-list (catalog/markdown.py) for the site and the books."""

from catalog.ebook import render_html
from catalog.markdown import render_markdown

AUTHOR_TEXT = (
    "3. Third *step*\n"
    '4. [Docs](https://example.com/docs "the docs") and [bad](javascript:alert(1))\n\n'
    "> A quote with `code` and <b>typed tags</b>\n\n"
    "```\nif 1 < 2: pass\n```\n"
)


def test_a_chapter_and_a_page_render_the_same_markdown_to_the_same_html():
    page = render_markdown(AUTHOR_TEXT)

    assert page == render_html(AUTHOR_TEXT)
    assert '<ol start="3">' in page  # a numbered list keeps its numbers on the site too
    assert 'rel="noopener noreferrer"' in page
    assert 'href="javascript' not in page and "<b>" not in page
