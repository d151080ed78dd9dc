#!/usr/bin/env bash
# The django-oscar integration's tests, in their own virtualenv (.venv-oscar: the main
# one has no Oscar), on SQLite and then on PostgreSQL. Extra arguments go to pytest.
#
# PostgreSQL: OSCAR_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/oscar
# (Django creates and drops test_oscar there).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-oscar
stamp="$venv/.requirements"
wanted=$(cat tests/oscar/requirements.txt requirements-dev.txt requirements.txt)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    python3.11 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/oscar/requirements.txt
    printf '%s' "$wanted" > "$stamp"
fi

run() {
    "$venv/bin/python" -m pytest tests/oscar --ds=tests.oscar.settings \
        --confcutdir=tests/oscar -p no:cacheprovider \
        -W "ignore:update is not implemented in this backend:UserWarning" \
        -W "ignore:Using Category.:DeprecationWarning" "$@"
}
# OSCAR_SQLITE=0 leaves SQLite out (CI: the main suite runs on both, Oscar shops on PostgreSQL).
if [ "${OSCAR_SQLITE:-1}" != 0 ]; then
    echo "== django-oscar integration on SQLite =="
    run "$@"
fi
echo "== django-oscar integration on PostgreSQL =="
DATABASE_URL=${OSCAR_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/oscar} run "$@"
