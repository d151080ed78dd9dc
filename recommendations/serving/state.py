"""Everything the read path keeps in this process's memory, in one object with one reset.

The loaded versions, the active experiment, the global orders of trending and
popularity, the lists served lately and their rendered bodies are all held by
:data:`process_state`; tests and :mod:`recommendations.privacy` call
:meth:`ServingState.reset` or :meth:`ServingState.expire`, never a module's own dictionary.
"""

from __future__ import annotations

import threading
from typing import Any

# Lists this process served, kept at most this many (cleared whole when full).
SERVED_MAX = 4096
# Rendered bodies of served lists kept (cleared whole when full): far fewer than the
# lists, as a body weighs more than the list it renders and only a repeat asks for it.
BODIES_MAX = 256
# Whole orders of trending and popularity recommenders kept (oldest dropped first).
MAX_GLOBAL_ORDERS = 8
# Experiment arms' models kept besides the active one (oldest dropped first).
MAX_OTHER_RUNS = 4


class ServingState:
    """The serving memory of one process; thread-safe through ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self, *, lists_only: bool = False) -> None:
        """Forget everything: the next request loads and computes again.

        ``lists_only`` keeps what was loaded (versions, experiment, global orders) and
        forgets the lists served and the catalog, as emptying the shared cache does for
        the others.
        """
        with self.lock:
            # (user key, generation, list name) -> (computed at, checked at, the list).
            self.served: dict[tuple[Any, Any, str], tuple[float, float, tuple[Any, ...]]] = {}
            # ((user key, generation, list name), variant) -> (the served list, its body).
            self.bodies: dict[tuple[tuple[Any, Any, str], Any], tuple[tuple[Any, ...], Any]] = {}
            # The available items and the instances shown (serving.catalog.Catalog).
            self.catalog: Any = None
            # (read at, keys as strings of the users who follow anyone): serving.social.
            self.followers: tuple[float, frozenset[str]] | None = None
            # (language, message) -> the message translated, for reasons.Worded.
            self.translated: dict[tuple[str | None, str], str] = {}
            # The merchandisers' rules of the version in force (rules.RuleSet).
            self.rules: Any = None
            if lists_only:
                return
            # The active version: its model, when it was last checked, and the
            # (run id, artifact name) loaded or whose load failed.
            self.model: Any = None
            self.checked_at = -float("inf")
            self.loaded: tuple[int, str] | None = None
            self.failed: tuple[int, str] | None = None
            # (run id, artifact name) -> a loaded experiment arm, or (None, failed at).
            self.other_runs: dict[tuple[int, str], Any] = {}
            self.experiment: Any = None
            self.experiment_checked_at = -float("inf")
            # id(recommender) -> (recommender, [(item key, str key, score)] best first).
            self.global_orders: dict[int, tuple[Any, list[tuple[Any, str, float]]]] = {}

    def expire(self) -> None:
        """Make the next request check the active version and experiment now."""
        with self.lock:
            self.checked_at = -float("inf")
            self.experiment_checked_at = -float("inf")

    def user_forget(self, user_pk: Any) -> None:
        """Drop the lists (and bodies) this process served to one user, every generation."""
        with self.lock:
            for key in [key for key in self.served if key[0] == user_pk]:
                self.served.pop(key, None)
            for key in [key for key in self.bodies if key[0][0] == user_pk]:
                self.bodies.pop(key, None)

    def served_remember(self, key: tuple[Any, Any, str], value: tuple[float, float, Any]) -> None:
        """Keep a list this process served (cheaper than an LRU: refilled by requests)."""
        if len(self.served) >= SERVED_MAX:
            self.served.clear()
        self.served[key] = value

    def body_remember(self, key: tuple[tuple[Any, Any, str], Any], value: tuple[Any, Any]) -> None:
        """Keep the rendered body of a served list (refilled by requests, like the lists)."""
        if len(self.bodies) >= BODIES_MAX:
            self.bodies.clear()
        self.bodies[key] = value


process_state = ServingState()
