#!/usr/bin/env bash
# Idempotently create a venv holding the real OS2borgerPC agent used by the
# compatibility tests.  Usage: setup_venv.sh VENV_DIR
# Prints nothing on success (pip errors go to stderr).
set -euo pipefail

VERSION="3.2.0"
PACKAGE="os2borgerpc-client"

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
VENV="$1"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi

installed="$("$VENV/bin/python" - "$PACKAGE" <<'PY' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PY
)"

if [ "$installed" != "$VERSION" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$PACKAGE==$VERSION"
fi
