from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Import the cache and broker clients now, before gthread workers' threads first touch the cache at
# the same moment: racing lazy imports of `redis` fail with "partially initialized module"
# (seen as a 500 under 20 concurrent first requests).
from django.conf import settings  # noqa: E402

if settings.REDIS_URL:
    import django_redis.client.default  # noqa: F401
    import redis.client  # noqa: F401
if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    import kombu.transport.redis  # noqa: F401  (the broker client, imported on first .delay())

# Cached store pages for anonymous visitors are answered before Django (config.edge).
from config.edge import edge_wrap  # noqa: E402

application = edge_wrap(application)
