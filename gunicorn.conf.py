"""gunicorn's settings for this project, read from the folder gunicorn starts in.

Command-line options still apply on top (``--workers``, ``--bind`` ...).
"""

import gc


def post_worker_init(worker: object) -> None:
    """Each worker, once it has imported the app: the model and the catalog now.

    Loaded here rather than in some shopper's first request, then kept out of the
    garbage collector's scans with everything else loaded so far: they live as long as
    the worker, and scanning them paused requests under load. Here in the worker, not
    at import, so ``--preload`` does not make the forked workers share the connections
    the load opened.
    """
    from recommendations.selectors import warm_up  # the app is ready only from here on

    warm_up()
    gc.freeze()
