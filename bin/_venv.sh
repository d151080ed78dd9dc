# Sourced by bin/demo and bin/test: create .venv with Python 3.11 and install a
# requirements file once (again only when the file changes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROJECT_ROOT=$(pwd)

ensure_venv() {
    local requirements=$1
    local python=${PYTHON:-}
    if [ -z "$python" ]; then
        if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
    fi
    if [ ! -x .venv/bin/python ]; then
        "$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"' \
            || { echo "error: $python is not Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
        echo "Creating the virtual environment in .venv ..."
        "$python" -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade pip
    fi
    local stamp=".venv/.installed-$(basename "$requirements" .txt)"
    local digest
    digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        echo "Installing $requirements ..."
        .venv/bin/python -m pip install --quiet -r "$requirements"
        echo "$digest" > "$stamp"
    fi
}
