"""Trained artifacts in Django's storage: one ``.npz`` per training run, never pickled.

They go to a private storage: ``settings.STORAGES["recommendations"]`` when the project
defines it, else files under ``RECOMMENDATIONS["ARTIFACT_ROOT"]`` (``BASE_DIR/var``),
never the public media storage (see :attr:`AppSettings.ARTIFACT_STORAGE
<recommendations.conf.AppSettings.ARTIFACT_STORAGE>`).

An artifact holds the personal recommender of a run, the item-to-item, trending and
popularity recommenders trained on the same data, the "bought together" recommender
learned from baskets (absent from artifacts written before it existed, and when no
purchase made a basket), the mapping of matrix rows and columns to database keys, and
each training user's personal list computed at training time (:class:`UserLists`,
absent from older artifacts), so serving a known shopper whose history did not change
is a lookup.
Each recommender is the engine's own ``.npz`` archive, nested as a byte array. Writing
goes to a fresh unique name in one ``Storage.save`` (on S3-compatible storage one PUT,
or a multipart upload, that appears whole or not at all); the database pointer
(``TrainingRun.artifact``) is only set afterwards, so a crash mid-write never exposes a
half-written file. Whatever a storage backend raises when it fails (botocore's errors
for S3) reaches callers as an ``OSError``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

from recommendations import engine
from recommendations.conf import DEFAULT_ARTIFACT_STORAGE, app_settings
from recommendations.engine.base import Recommender

ARTIFACT_FORMAT = 1
RECOMMENDER_KEYS = ("recommender", "similar", "trending", "popularity")
#: Recommenders an artifact may lack: older artifacts were written without them.
OPTIONAL_RECOMMENDER_KEYS = ("bought_together",)
# The arrays of UserLists are stored under these names plus their field's.
LISTS_PREFIX = "user_lists_"
# Artifact files are named <prefix><run id>-<random hex><suffix> in ARTIFACT_PATH.
ARTIFACT_PREFIX = "run-"
ARTIFACT_SUFFIX = ".npz"
# Learned state indexed by the user row, in every engine recommender; anything else a
# recommender learns is indexed by item (tests/recommendations/test_privacy.py checks).
USER_STATE = (
    "interactions_",
    "timestamps_",
    "user_features_",
    "user_norms_",
    "user_factors_",  # social_mf: each user's own factors, tied to whom they follow
    "last_seen_",  # social_blend's gate: when each user's newest item was
    "times_",  # social_blend's recency, social_rerank's features: when each user had each item
)
# Indexed by the user row and column: who follows whom (the social models).
USER_BY_USER_STATE = ("social_",)


class ArtifactError(ValueError):
    """The artifact is missing, unreadable or not one of ours."""


class ArtifactStorageError(OSError):
    """The artifact storage failed with an error of its own (unreachable, refused)."""


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    # Callers treat OSError as "the storage is down"; a remote backend raises its own
    # errors instead (S3: botocore's ClientError, EndpointConnectionError), which the
    # app cannot name without requiring that backend.
    try:
        yield
    except (OSError, NotImplementedError):
        raise
    except Exception as exc:
        raise ArtifactStorageError(f"The artifact storage failed: {exc}") from exc


@dataclass(frozen=True)
class UserLists:
    """Each training user's personal list, computed when the artifact was written.

    Row ``r`` belongs to the user of ``user_pks[r]``. Item columns are best first and
    padded with -1; a row shorter than the width holds every item with a positive score.
    """

    items: np.ndarray  # (users, width) int32 item columns
    scores: np.ndarray  # (users, width) float32
    # (users, width, NAMED) int32: the history columns that explain each item, best first.
    named: np.ndarray
    # (users,) float64: Unix time of the user's newest event the list was computed from.
    newest: np.ndarray
    # The item columns each user bought, as CSR rows: (users + 1,) offsets into (n,)
    # columns. None in older artifacts, or when some categories may be bought again.
    bought_indptr: np.ndarray | None = None
    bought_indices: np.ndarray | None = None

    ARRAYS = ("items", "scores", "named", "newest")
    BOUGHT_ARRAYS = ("bought_indptr", "bought_indices")

    def bought_cols(self, row: int) -> np.ndarray | None:
        """The item columns the user of ``row`` bought, or None when not stored."""
        if self.bought_indptr is None or self.bought_indices is None:
            return None
        return self.bought_indices[self.bought_indptr[row] : self.bought_indptr[row + 1]]

    def without(self, keep: np.ndarray) -> UserLists:
        """The lists of the users whose rows ``keep`` (a boolean mask) keeps."""
        kept = [getattr(self, name)[keep] for name in self.ARRAYS]
        if self.bought_indptr is None or self.bought_indices is None:
            return UserLists(*kept)
        rows = np.flatnonzero(keep)
        starts, ends = self.bought_indptr[rows], self.bought_indptr[rows + 1]
        indptr = np.zeros(rows.size + 1, dtype=self.bought_indptr.dtype)
        np.cumsum(ends - starts, out=indptr[1:])
        pieces = [self.bought_indices[a:b] for a, b in zip(starts, ends, strict=True)]
        indices = np.concatenate(pieces) if pieces else self.bought_indices[:0]
        return UserLists(*kept, bought_indptr=indptr, bought_indices=indices)


@dataclass(frozen=True)
class Artifact:
    """The contents of one artifact file."""

    algorithm: str
    recommender: Recommender
    similar: Recommender
    trending: Recommender
    popularity: Recommender
    user_pks: np.ndarray
    item_pks: np.ndarray
    bought_together: Recommender | None = None
    user_lists: UserLists | None = None


def artifact_storage() -> Storage:
    """Where artifacts live: ``settings.STORAGES[ARTIFACT_STORAGE]``, else ``ARTIFACT_ROOT``.

    Only the default alias falls back to the private folder; another alias must be
    defined in ``settings.STORAGES``.
    """
    alias = app_settings.ARTIFACT_STORAGE
    if alias in settings.STORAGES or alias != DEFAULT_ARTIFACT_STORAGE:
        return storages[alias]
    root = app_settings.ARTIFACT_ROOT
    if root is None:
        raise ImproperlyConfigured(
            "Set RECOMMENDATIONS['ARTIFACT_ROOT'] or settings.STORAGES"
            f"[{DEFAULT_ARTIFACT_STORAGE!r}]: the project has no BASE_DIR to keep "
            "trained artifacts under."
        )
    return FileSystemStorage(location=root)


def _as_bytes(recommender: Recommender | bytes) -> np.ndarray:
    raw = recommender if isinstance(recommender, bytes) else recommender.to_bytes()
    return np.frombuffer(raw, dtype=np.uint8)


def artifact_write(
    *,
    run_id: int,
    algorithm: str,
    recommender: Recommender | bytes,
    similar: Recommender | bytes,
    trending: Recommender | bytes,
    popularity: Recommender | bytes,
    user_pks: np.ndarray,
    item_pks: np.ndarray,
    bought_together: Recommender | bytes | None = None,
    user_lists: UserLists | None = None,
) -> str:
    """Save an artifact under a new unique name and return the name the storage chose."""
    manifest = {"format": ARTIFACT_FORMAT, "algorithm": algorithm, "run_id": run_id}
    optional = {} if bought_together is None else {"bought_together": _as_bytes(bought_together)}
    if user_lists is not None:
        names = [*UserLists.ARRAYS, *UserLists.BOUGHT_ARRAYS]
        optional.update(
            {
                f"{LISTS_PREFIX}{name}": getattr(user_lists, name)
                for name in names
                if getattr(user_lists, name) is not None
            }
        )
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **optional,
        manifest=np.array(json.dumps(manifest)),
        recommender=_as_bytes(recommender),
        similar=_as_bytes(similar),
        trending=_as_bytes(trending),
        popularity=_as_bytes(popularity),
        user_pks=np.asarray(user_pks),
        item_pks=np.asarray(item_pks),
    )
    name = _in_folder(f"{ARTIFACT_PREFIX}{run_id}-{uuid.uuid4().hex}{ARTIFACT_SUFFIX}")
    storage = artifact_storage()
    with _storage_errors():
        return storage.save(name, ContentFile(buffer.getvalue()))


def _in_folder(file: str) -> str:
    folder = app_settings.ARTIFACT_PATH.strip("/")
    return f"{folder}/{file}" if folder else file


def artifact_names() -> list[str]:
    """Names of the files in the artifact folder that :func:`artifact_write` wrote."""
    storage = artifact_storage()
    try:
        with _storage_errors():
            # A file system has no folder before the first write; S3 lists an empty prefix.
            _dirs, files = storage.listdir(app_settings.ARTIFACT_PATH.strip("/"))
    except (FileNotFoundError, NotImplementedError):
        return []
    return sorted(
        _in_folder(file)
        for file in files
        if file.startswith(ARTIFACT_PREFIX) and file.endswith(ARTIFACT_SUFFIX)
    )


def artifact_read(name: str) -> Artifact:
    """Load an artifact; raise ArtifactError when it is missing or corrupt."""
    if not name:
        raise ArtifactError("The training run has no artifact.")
    storage = artifact_storage()
    try:
        with _storage_errors(), storage.open(name, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ArtifactError(f"Cannot read artifact {name!r}: {exc}") from exc
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        manifest = json.loads(str(arrays["manifest"]))
        if manifest.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"Artifact {name!r} has unknown format {manifest.get('format')!r}."
            )
        recommenders = {
            key: engine.load(arrays[key].tobytes())
            for key in (*RECOMMENDER_KEYS, *OPTIONAL_RECOMMENDER_KEYS)
            if key in arrays or key not in OPTIONAL_RECOMMENDER_KEYS
        }
        lists = [arrays.get(f"{LISTS_PREFIX}{key}") for key in UserLists.ARRAYS]
        bought = [arrays.get(f"{LISTS_PREFIX}{key}") for key in UserLists.BOUGHT_ARRAYS]
        return Artifact(
            algorithm=str(manifest["algorithm"]),
            user_pks=arrays["user_pks"],
            item_pks=arrays["item_pks"],
            user_lists=None
            if any(array is None for array in lists)
            else UserLists(*lists, *bought),
            **recommenders,
        )
    except ArtifactError:
        raise
    except (KeyError, ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"Artifact {name!r} is corrupt: {exc}") from exc


def artifact_delete(name: str) -> None:
    """Remove an artifact file if it exists."""
    if name:
        storage = artifact_storage()
        with _storage_errors():
            if storage.exists(name):
                storage.delete(name)


def artifact_modified_time(name: str) -> dt.datetime | None:
    """When an artifact was written; None when the storage cannot tell or it is gone."""
    storage = artifact_storage()
    with _storage_errors():
        try:
            return storage.get_modified_time(name)
        except (FileNotFoundError, NotImplementedError):
            return None
        except Exception:
            # S3 answers a missing object with its own 404 error: deleted meanwhile.
            if not storage.exists(name):
                return None
            raise


def recommender_without_rows(recommender: Recommender, keep: np.ndarray) -> Recommender:
    """Drop the user rows not in ``keep`` (a boolean mask) from a recommender, in place."""
    rows = np.flatnonzero(keep)
    for key, value in list(vars(recommender).items()):
        if isinstance(value, Recommender):
            recommender_without_rows(value, keep)
        elif isinstance(value, list | tuple) and value and isinstance(value[0], Recommender):
            for part in value:
                recommender_without_rows(part, keep)
        elif key in USER_BY_USER_STATE and getattr(value, "shape", None) == (keep.size,) * 2:
            setattr(recommender, key, sp.csr_matrix(value[rows][:, rows]))
        elif key in USER_STATE and getattr(value, "shape", (None,))[0] == keep.size:
            setattr(
                recommender, key, sp.csr_matrix(value[rows]) if sp.issparse(value) else value[rows]
            )
    # Only a recommender whose rows are the users has them to lose (not one of baskets).
    if getattr(recommender, "n_users_", None) == keep.size:
        recommender.n_users_ = int(rows.size)
    # Derived caches (user-kNN's weighted matrix) are rebuilt from the new state.
    recommender._after_load()
    return recommender


def artifact_without_users(artifact: Artifact, user_pks: Collection[str]) -> Artifact | None:
    """The artifact without the rows of ``user_pks`` (as strings); None if it has none.

    The recommenders of ``artifact`` are changed in place: pass one loaded for this call.
    """
    if not user_pks or not artifact.user_pks.size:
        return None
    keep = ~np.isin(artifact.user_pks.astype(str), np.array(list(user_pks), dtype=str))
    if keep.all():
        return None
    return replace(
        artifact,
        user_pks=artifact.user_pks[keep],
        user_lists=None if artifact.user_lists is None else artifact.user_lists.without(keep),
        **{
            name: recommender_without_rows(getattr(artifact, name), keep)
            for name in (*RECOMMENDER_KEYS, *OPTIONAL_RECOMMENDER_KEYS)
            if getattr(artifact, name) is not None
        },
    )
