"""WSGI entry point."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from threadpoolctl import threadpool_limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# A web worker scores one shopper at a time: one BLAS and OpenMP thread each, so that
# several workers on a few cores never wait on each other's threads (training, in
# Celery, keeps every thread).
threadpool_limits(limits=1)

# Everything loaded so far lives as long as the worker: keep it out of the cyclic
# garbage collector's scans, which otherwise pause requests under load.
gc.freeze()
