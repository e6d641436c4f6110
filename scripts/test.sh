#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, then lint + type check + pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
# constraints.txt (scripts/lock.sh) pins every transitive version, as the Dockerfile's install does.
"$PY" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt

# Debian's Chromium drives the browser test (Playwright's own browser download cannot work here);
# the DejaVu fonts let the simulator draw legible prompt text, Noto's emoji make screenshots true.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)  # guarded demo mode's shared counts
command -v curl >/dev/null 2>&1 || need+=(curl)  # tests run the History's curl snippets
# Results shared by replicas (NEUROLINK_DATABASE_URL): the tests start their own server as the
# postgres user on loopback (tests/conftest.py postgres_url).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

"$PY" -m ruff check .
"$PY" -m ruff format --check .
# mypy (what it checks and how strictly: [tool.mypy] in pyproject.toml) takes ~30 s on a fresh
# clone, with no cache: it reads the code while the tests run, and its verdict is awaited below.
mypy_log="$(mktemp)"
"$PY" -m mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
# pytest-xdist: 3 workers on 2 cores. With 2 the cores sat ~55% idle (the suite mostly waits on
# simulated models and browsers: 655 CPU-s in a 754 s run); 4 were no faster (662 s against 668 s
# for the same tests) and made the machine's load spikes worse. `loadfile` keeps a
# module's app, simulator and browser fixtures in one worker; each worker has its own ports, data
# and temp folders (tests/helpers.py free_port, tests/conftest.py). TEST_WORKERS=0: one process.
# --durations: the slowest tests are named in every run, where the suite's time goes.
# `bench`: the benchmarks' own checks (quick runs of every section: a dozen app processes and
# three Chromiums between them) are left out (`pytest -m bench` runs them; `python -m bench` measures).
tests_status=0
"$PY" -m pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-3}" --dist loadfile --durations=30 \
  -m "not alone and not bench" "$@" || tests_status=$?
mypy_status=0
wait "$mypy_pid" || mypy_status=$?
cat "$mypy_log"
rm -f "$mypy_log"
[ "$mypy_status" -eq 0 ] || { echo "mypy failed (exit $mypy_status)" >&2; exit "$mypy_status"; }
[ "$tests_status" -eq 0 ] || exit "$tests_status"
# Then the fairness floods, alone: their visitors must be the only load on the app. Only the
# files that hold such tests are collected (collecting all ~1,200 to keep 7 took ~10 s).
mapfile -t alone_files < <(grep -rl --include='*.py' "mark.alone" tests)
exec "$PY" -m pytest -q -p no:cacheprovider -m alone "${alone_files[@]}" "$@"
