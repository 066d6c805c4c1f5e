"""The bare floor: a minimal Django project that shares nothing with the product.

bench/run serves it next to the product (same gunicorn flags and worker count,
same PostgreSQL database, same environment) and measures it in the same run, so
each product page can be compared with what plain Django does on this machine,
and the product floor with it (the cost of the product's middleware stack).
"""
