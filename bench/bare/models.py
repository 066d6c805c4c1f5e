"""The rows the bare floor reads: the product's catalog_book table, seen through an
unmanaged model so the bare project imports no product code."""

from django.db import models


class Book(models.Model):
    slug = models.SlugField()
    title = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "catalog_book"

    def __str__(self):
        return self.title
