"""The near cache: values kept in process until the Redis server says they changed."""

from __future__ import annotations

import time

import pytest
import redis
from django.core.cache import caches
from redis.connection import AbstractConnection
from redis.exceptions import ResponseError

from recommendations.services import catalog_changed, social_changed
from recommendations.serving import near_cache as near
from recommendations.serving.keys import CATALOG_CHANGED_KEY, SOCIAL_CHANGED_KEY
from recommendations.serving.near_cache import near_cache, near_get_many
from recommendations.serving.pipeline import page_read

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def slow_machine_proof(settings):
    """Values kept a minute at most (``RELOAD_INTERVAL``), however slow the machine."""
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 60}


@pytest.fixture
def elsewhere(redis_default):
    """Another process's view of the same cache: its own connections, no near cache."""
    other = redis.Redis.from_url(redis_default._servers[0])
    yield lambda key: redis_default.make_and_validate_key(key), other
    other.close()


@pytest.fixture
def reads(monkeypatch):
    """The keys each MGET sent to Redis asked for, in order."""
    sent: list[list[bytes]] = []
    real_send = AbstractConnection.send_command

    def send(self, *args, **kwargs):
        if args and args[0] == "MGET":
            sent.append(list(args[1:]))
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", send)
    return sent


def _eventually(read, expected):
    """What ``read()`` returns once it returns ``expected`` (the invalidation travels
    on its own connection), or its last answer after 10 seconds."""
    deadline = time.monotonic() + 10
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value


def test_a_value_read_again_is_not_asked_of_redis(redis_default, reads):
    redis_default.set("a", {"x": 1})

    assert near_get_many(["a", "missing"]) == {"a": {"x": 1}}
    assert near_get_many(["a", "missing"]) == {"a": {"x": 1}}
    assert near_get_many(["missing", "a"]) == {"a": {"x": 1}}

    assert len(reads) == 1  # the first read only; missing keys are kept missing too
    assert near_cache.reader is not None


def test_a_value_is_kept_reload_interval_seconds_at_most(redis_default, reads):
    redis_default.set("a", 1)

    assert near_get_many(["a"]) == {"a": 1}
    assert near_get_many(["a"]) == {"a": 1}
    # As if a minute had passed since it was read.
    near_cache.values = {key: (at - 60, value) for key, (at, value) in near_cache.values.items()}
    assert near_get_many(["a"]) == {"a": 1}

    assert len(reads) == 2


def test_a_change_made_by_another_process_is_read_again(redis_default, elsewhere, reads):
    name, other = elsewhere
    redis_default.set("a", 1)
    redis_default.set("b", 2)
    assert near_get_many(["a", "b", "c"]) == {"a": 1, "b": 2}

    other.set(name("a"), 10)  # Django's serializer stores integers as they are
    other.delete(name("b"))
    other.set(name("c"), 30)

    def read():
        return near_get_many(["a", "b", "c"])

    assert _eventually(read, {"a": 10, "c": 30}) == {"a": 10, "c": 30}
    # Only what changed was asked again.
    assert sorted(key for sent in reads[1:] for key in sent) == sorted(
        name(key).encode() for key in ("a", "b", "c")
    )


def test_an_emptied_database_forgets_everything(redis_default, elsewhere):
    redis_default.set("a", 1)
    assert near_get_many(["a"]) == {"a": 1}

    elsewhere[1].flushdb()

    assert _eventually(lambda: near_get_many(["a"]), {}) == {}


@pytest.mark.parametrize(
    ("write", "key"),
    [(catalog_changed, CATALOG_CHANGED_KEY), (social_changed, SOCIAL_CHANGED_KEY)],
)
def test_a_write_of_this_process_is_read_at_once(redis_default, reads, write, key):
    assert near_get_many([key]) == {}

    write()  # forgets the key itself: no waiting for Redis's message

    changed = near_get_many([key])
    assert changed[key] == pytest.approx(time.time(), abs=60)
    assert len(reads) == 2


@pytest.mark.django_db
def test_a_page_reads_when_the_follows_changed_in_its_one_call(redis_default, elsewhere, reads):
    name, other = elsewhere
    social_changed()
    written = redis_default.get(SOCIAL_CHANGED_KEY)

    assert page_read(user=None).social_changed_at == written
    assert page_read(user=None).social_changed_at == written
    # Asked once, with the page's other keys.
    social = name(SOCIAL_CHANGED_KEY).encode()
    assert [keys for keys in reads if social in keys] == [reads[0]]
    assert len(reads[0]) > 1

    # Follows changed in another process: the next page reads the new time.
    other.set(name(SOCIAL_CHANGED_KEY), redis_default._cache._serializer.dumps(written + 5))
    assert _eventually(lambda: page_read(user=None).social_changed_at, written + 5) == written + 5


def test_a_lost_invalidations_connection_falls_back_to_the_cache_then_reconnects(
    redis_default, elsewhere, monkeypatch
):
    name, other = elsewhere
    redis_default.set("a", 1)
    assert near_get_many(["a"]) == {"a": 1}

    other.client_kill_filter(_id=near_cache.listener_id)
    other.set(name("a"), 2)  # its invalidation has nowhere to go

    assert near_get_many(["a"]) == {"a": 2}  # read from the cache, near cache off
    assert near_cache.reader is None
    monkeypatch.setattr(near, "RETRY_AFTER", 0)
    near_cache.retry_at = 0.0
    assert near_get_many(["a"]) == {"a": 2}
    assert near_cache.reader is not None  # connected again, with tracking


def test_a_server_refusing_tracking_turns_it_off_for_good(redis_default, monkeypatch, caplog):
    real_send = AbstractConnection.send_command

    def send(self, *args, **kwargs):
        if args[:2] == ("CLIENT", "TRACKING"):
            raise ResponseError("ERR unknown subcommand 'TRACKING'")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", send)
    redis_default.set("a", 1)

    assert near_get_many(["a"]) == {"a": 1}
    assert near_get_many(["a"]) == {"a": 1}

    assert near_cache.off and near_cache.reader is None and near_cache.listener is None
    assert [r.getMessage() for r in caplog.records if r.name == near.__name__] == [
        "Near cache off (ERR unknown subcommand 'TRACKING'): the cache is read every time."
    ]


def test_a_reader_closed_by_the_server_is_noticed_before_any_kept_value_is_used(
    redis_default, elsewhere
):
    name, other = elsewhere
    redis_default.set("a", 1)
    assert near_get_many(["a"]) == {"a": 1}

    other.client_kill_filter(_id=near_cache.reader_id)  # as Redis's idle ``timeout`` does
    other.set(name("a"), 2)  # no longer tracked: no invalidation is sent

    assert near_get_many(["a"]) == {"a": 2}
    assert near_cache.reader is None and near_cache.values == {}


def test_an_unanswered_ping_turns_the_near_cache_off(redis_default):
    redis_default.set("a", 1)
    assert near_get_many(["a"]) == {"a": 1}
    near_cache.ping_sent_at = time.monotonic() - 2 * near.PING_EVERY  # never answered

    assert near_get_many(["a"]) == {"a": 1}

    assert near_cache.reader is None and near_cache.values == {}


def test_a_forked_process_makes_its_own_connections(redis_default):
    redis_default.set("a", 1)
    assert near_get_many(["a"]) == {"a": 1}
    inherited = near_cache.reader
    near_cache.pid = -1  # as in a child of the process that connected

    assert near_get_many(["a"]) == {"a": 1}

    assert near_cache.reader is not None and near_cache.reader is not inherited


def test_other_backends_and_the_setting_turned_off_read_the_cache(
    settings, redis_default, reads, tmp_path
):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "NEAR_CACHE": False}
    redis_default.set("a", 1)

    assert near_get_many(["a"]) == {"a": 1}
    assert near_get_many(["a"]) == {"a": 1}

    assert near_cache.reader is None
    assert len(reads) == 2

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        },
    }
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "NEAR_CACHE": True}
    caches["default"].set("a", 3)
    assert near_get_many(["a"]) == {"a": 3}
    caches["default"].set("a", 4)  # files are shared by processes: read every time
    assert near_get_many(["a"]) == {"a": 4}
    assert near_cache.reader is None and near_cache.off
