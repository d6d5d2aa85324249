#!/usr/bin/env bash
# Idempotently create a venv holding the real OS2borgerPC agent used by the
# compatibility tests, and openpyxl, the independent XLSX reader of the report
# export tests (xlsx_cells.py).  Usage: setup_venv.sh VENV_DIR
# Prints nothing on success (pip errors go to stderr).
set -euo pipefail

# package==version, each installed unless that version is there already.
PINS=("os2borgerpc-client==3.2.0" "openpyxl==3.1.5")

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
VENV="$1"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi

for pin in "${PINS[@]}"; do
    package="${pin%%==*}"
    version="${pin#*==}"
    installed="$("$VENV/bin/python" - "$package" <<'PY' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PY
)"
    if [ "$installed" != "$version" ]; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$pin"
    fi
done
