#!/bin/sh
# The bridge's tests.
#
#   integrations/python/run_tests.sh                      # core only, with python3
#   integrations/python/run_tests.sh /path/to/venv/bin/python   # core, then Lightning, Keras, HF
#
# The core tests need nothing but the standard library. The framework tests
# need torch, lightning, keras 3 and transformers (+ accelerate) in the
# interpreter given; each trains a tiny model on the CPU for 12 steps and
# drives it through the command file. A framework that is not installed is
# reported as skipped. Set FITCHECK to a fitcheck binary to also check that
# `fitcheck diagnose` reads each log (default: target/release/fitcheck of
# this repository, when built). Exit status: 0 when everything run passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export PYTHONDONTWRITEBYTECODE=1
core_py=${CORE_PYTHON:-python3}
status=0

echo "== core ($($core_py --version 2>&1), standard library only)"
if ! "$core_py" -m unittest discover -s "$here/tests" -p 'test_core.py'; then status=1; fi

if [ $# -ge 1 ]; then
    py=$1
    for fw in lightning keras hf; do
        case $fw in
            lightning) mods="torch lightning" ;;
            keras) mods="keras torch" ;;
            hf) mods="torch transformers accelerate" ;;
        esac
        if ! KERAS_BACKEND=${KERAS_BACKEND:-torch} "$py" -c "import $(echo $mods | tr ' ' ',')" >/dev/null 2>&1; then
            echo "== $fw: skipped ($mods not importable by $py)"
            continue
        fi
        versions=$(KERAS_BACKEND=${KERAS_BACKEND:-torch} "$py" -c "
import importlib
print(', '.join(m + ' ' + importlib.import_module(m).__version__ for m in '$mods'.split()))" 2>/dev/null)
        echo "== $fw ($versions)"
        out=$(cd "$here/tests" && KERAS_BACKEND=${KERAS_BACKEND:-torch} "$py" "test_$fw.py" 2>&1)
        rc=$?
        # the checks and the verdict; the framework's own chatter is left out
        printf '%s\n' "$out" | grep -E '^(ok:|fitcheck diagnose:|[a-z]+: all passed)|Error|error:|Traceback' | grep -v '^ok: step [0-9]*:' 
        printf '%s\n' "$out" | grep -c '^ok: step [0-9]*:' | sed 's/^/   (+ /; s/$/ per-step lr checks passed)/'
        if [ $rc -ne 0 ]; then
            printf '%s\n' "$out" | tail -20
            echo "== $fw: FAILED (exit $rc)"
            status=1
        fi
    done
fi
exit $status
