#!/usr/bin/env bash
# Outside-in proof of the package: build the wheel, install it into fresh virtualenvs
# (nothing of this repository on their path), apply the README's "Add to your Django
# project" section to a fresh `django-admin startproject` with a store app of its own,
# migrate, train and check it from inside (tests/outside_in/readme_host.py, probe.py):
# with the [api,celery] extras and with the base install, each on SQLite and on
# PostgreSQL. Exits non-zero on any failure.
#
#   tests/outside_in/run.sh                 # PostgreSQL too when it answers (CI: required)
#   OUTSIDE_IN_POSTGRES=postgres://postgres@127.0.0.1:5432 tests/outside_in/run.sh
#
# pip's cache makes a second run fast; versions come from requirements.txt's pins.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
WORK=${OUTSIDE_IN_WORK:-$(mktemp -d -t outside-in.XXXXXX)}
POSTGRES=${OUTSIDE_IN_POSTGRES:-postgres://postgres@127.0.0.1:5432}
export PIP_DISABLE_PIP_VERSION_CHECK=1
started=$SECONDS

echo "== building the wheel in $WORK/dist =="
rm -rf build ./*.egg-info
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" .
rm -rf build ./*.egg-info
wheel=$(ls "$WORK"/dist/django_shop_recommendations-*.whl)
"$PYTHON" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
assert tops == {"recommendations"}, f"the wheel holds more than the app: {sorted(tops)}"
for needed in ("recommendations/migrations/0001_initial.py",
               "recommendations/templates/recommendations/_list.html",
               "recommendations/static/recommendations/tracking.js",
               "recommendations/locale/de/LC_MESSAGES/django.po",
               "recommendations/locale/de/LC_MESSAGES/django.mo"):
    assert needed in names, f"the wheel lacks {needed}"
# Every file of the package's source that is not Python (templates, static files,
# catalogs, of subpackages too: the Oscar card) must be in the wheel.
from pathlib import Path
source = [
    path.as_posix() for path in Path("recommendations").rglob("*")
    if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
]
missing = sorted(set(source) - set(names))
assert not missing, f"the wheel lacks files of the package: {missing}"
print(f"{sys.argv[1]}: {len(names)} files, only the recommendations package")
PY

# requirements.txt's pins as constraints (constraints take no extras nor local paths).
grep -E '^[A-Za-z0-9_.-]+(\[[^]]*\])?==' requirements.txt | sed -E 's/\[[^]]*\]//' \
    > "$WORK/constraints.txt"

postgres_args=()
if "$PYTHON" -c 'import socket, sys; from urllib.parse import urlparse; u = urlparse(sys.argv[1]); socket.create_connection((u.hostname, u.port or 5432), 2)' "$POSTGRES" 2>/dev/null; then
    postgres_args=(--postgres "$POSTGRES")
elif [ "${REQUIRE_ALL:-0}" = 1 ]; then
    echo "error: PostgreSQL does not answer at $POSTGRES but REQUIRE_ALL=1" >&2; exit 1
else
    echo "NOTE: PostgreSQL does not answer at $POSTGRES: the outside-in run is SQLite only." >&2
fi

"$PYTHON" tests/outside_in/readme_host.py --wheel "$wheel" \
    --constraints "$WORK/constraints.txt" --work "$WORK" "${postgres_args[@]}"
[ -n "${OUTSIDE_IN_WORK:-}" ] || rm -rf "$WORK"
runs=$(( ${#postgres_args[@]} ? 4 : 2 ))
echo "every README step passed, base and full install ($((SECONDS - started)) s)"
echo "outside-in: $runs passed, 0 failed"
