#!/usr/bin/env bash
# The GPU reference run: one command on a CUDA machine whose image already has torch (CUDA build),
# transformers and onnxruntime, and no network. It
#   1. installs ftax without dependencies (pip install --no-deps -e .), and any measure-time dependency that does
#      not import from the wheels folder carried along (.whl/, made here by benchmarks/make_wheels.sh);
#   2. prints `ftax env`;
#   3. plans (ftax.plan.schedule), then runs the gpu-reference study in priority tiers (ftax.study.tiered_run) with BUDGET_S as
#      the sweep's deadline: no visit starts past it and every finished one is stored in
#      $OUT/results/<machine_id>.jsonl;
#   4. runs the gpu-marked tests (after the sweep, so they never eat the sweep's time; bounded by TESTS_S);
#   5. compresses a store over a few MiB to .jsonl.gz (the loader reads both).
# A lease is about 15 minutes, start-up and every command included, at most 10 minutes a command: the default budget
# is sized to leave room for the start-up, the install, the tests and one rerun, which resumes what the deadline
# left (sized from the plan's labelled CUDA defaults; no GPU run has measured it yet).
# Usage: benchmarks/gpu_reference.sh [BUDGET_S]   (default 270; env: OUT, WHEELS, PYTHON, PROFILE, ROUNDS, TESTS_S)
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET_S="${1:-270}"
TESTS_S="${TESTS_S:-120}"
OUT="${OUT:-/tmp/ftax-gpu-out}"
WHEELS="${WHEELS:-.whl}"
PYTHON="${PYTHON:-python3}"
PROFILE="${PROFILE:-quick}"   # the stop rule: quick is the book's, so GPU and CPU records share one rule name
ROUNDS="${ROUNDS:-3}"
COMPRESS_OVER_BYTES=$((4 * 1024 * 1024))
export PYTHONUNBUFFERED=1 FTAX_CACHE_DIR="${FTAX_CACHE_DIR:-/tmp/ftax-cache}"
mkdir -p "$OUT/results"
t0=$(date +%s)
say() { echo "[gpu-reference +$(( $(date +%s) - t0 ))s] $*"; }

# What ftax imports while it measures (requirements.txt's runtime part; python module -> pip name). zeus is
# optional: without it energy records say 'unavailable' and why.
MEASURE_TIME="torch:torch transformers:transformers numpy:numpy scipy:scipy pandas:pandas yaml:pyyaml tqdm:tqdm
dateutil:python-dateutil onnx:onnx onnxruntime:onnxruntime pytest:pytest"
OPTIONAL="zeus:zeus"
missing=()
for pair in $MEASURE_TIME $OPTIONAL; do
  module="${pair%%:*}"; package="${pair##*:}"
  if ! "$PYTHON" -c "import $module" 2>/dev/null; then missing+=("$package"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "missing here: ${missing[*]}; installing what $WHEELS holds"
  for package in "${missing[@]}"; do
    if ls "$WHEELS"/"${package//-/_}"-*.whl "$WHEELS"/"$package"-*.whl >/dev/null 2>&1; then
      "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" --no-cache-dir "$package" \
        || say "could not install $package from $WHEELS"
    else
      say "no wheel for $package in $WHEELS"
    fi
  done
fi
"$PYTHON" -m pip install -q --no-deps --no-build-isolation --no-index -e . || { say "pip install -e . failed"; exit 1; }
for pair in $MEASURE_TIME; do
  "$PYTHON" -c "import ${pair%%:*}" 2>/dev/null || { say "still missing: ${pair##*:} (carry its wheel in $WHEELS)"; exit 1; }
done

say "ftax env"
"$PYTHON" -m ftax env | tee "$OUT/env.txt"

say "plan (budget ${BUDGET_S} s, ${ROUNDS} rounds, profile ${PROFILE})"
"$PYTHON" -m ftax sweep --study gpu-reference --device cuda --profile "$PROFILE" --rounds "$ROUNDS" \
  --budget-s "$BUDGET_S" --out "$OUT/results" --plan > "$OUT/plan.txt"
grep -A12 '^tiers:' "$OUT/plan.txt"

say "sweep"
"$PYTHON" -m ftax sweep --study gpu-reference --device cuda --profile "$PROFILE" --rounds "$ROUNDS" \
  --budget-s "$BUDGET_S" --out "$OUT/results" 2>&1 | tr '\r' '\n' | grep --line-buffered -v '^\s*$' \
  | tee "$OUT/sweep.log" | grep --line-buffered -E '^ftax|measured|nothing|error' 
status=${PIPESTATUS[0]}
say "sweep exit code $status"

say "gpu-marked tests (at most ${TESTS_S} s)"
timeout "$TESTS_S" "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider tests/test_plan.py tests/test_backends.py 2>&1 \
  | tee "$OUT/pytest-gpu.txt"
say "gpu tests exit code ${PIPESTATUS[0]}"

for f in "$OUT"/results/*.jsonl; do
  [ -e "$f" ] || continue
  if [ "$(stat -c %s "$f")" -gt "$COMPRESS_OVER_BYTES" ]; then gzip -9 "$f"; fi
done
ls -la "$OUT/results"
exit "$status"
