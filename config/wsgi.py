"""WSGI entry point."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Everything loaded so far lives as long as the worker: keep it out of the cyclic
# garbage collector's scans, which otherwise pause requests under load.
gc.freeze()
