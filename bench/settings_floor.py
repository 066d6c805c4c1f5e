"""The product's settings plus one URL: the floor page at /bench/floor/.

Everything else (middleware, database, cache, templates) is storefront.settings
as the environment sets it, so the floor pays exactly what every product page
pays before its own work begins.
"""

import copy

from storefront.settings import *  # noqa: F403
from storefront.settings import BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.floor_urls"

TEMPLATES = copy.deepcopy(TEMPLATES)
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]
