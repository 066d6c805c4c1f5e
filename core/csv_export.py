"""CSV files the store writes: no cell can run as a spreadsheet formula.

A spreadsheet opening a CSV runs a cell that starts with =, +, -, @ (and, in some,
a tab or a CR) as a formula: a book titled '=HYPERLINK("https://evil", "x")' in
an author's earnings export would be a live link (OWASP "CSV injection"). Every
text cell starting with one of those gets a leading apostrophe, which spreadsheets
show as plain text. Decision: numbers stay numbers. A cell that is a plain number
("-8.00", a refund) cannot be a formula, so it is written as it is and a
spreadsheet still sums it; non-text values (int, Decimal, dates) are never touched.
"""

import csv
import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value):
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell; use it for every CSV."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)
