#!/usr/bin/env bash
# Regenerate constraints.txt, the fully pinned lock of requirements-dev.txt (which includes
# requirements.txt), with uv's resolver in a throwaway venv. Existing pins are kept where they still
# satisfy the requirements; pass `--upgrade` or `--upgrade-package NAME` to move them.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
"$PY" -m venv "$tool"
"$tool/bin/pip" install --quiet --disable-pip-version-check uv==0.13.8
# --universal: one file for every platform (markers say where a package applies), for Python 3.11.
"$tool/bin/uv" pip compile requirements-dev.txt --universal --python-version 3.11 \
  --annotation-style line --custom-compile-command "scripts/lock.sh" -o constraints.txt "$@"
