#!/usr/bin/env bash
# All of issue 22's GPU work in one device call of at most 9 minutes (540 s):
#   phase A (concurrently, capped): `pytest -m gpu` and the default suite with `-x -q`;
#   phase B (alone on the GPU):     benchmarks/bench_gpu.py, every section, in what is left.
# Everything lands under $OUT (a temp folder when unset) and reports/benchmarks/ (gpu.json, gpu.md).
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run   # the same plumbing on the CPU at toy sizes (~2-3 min)
#
# Without CUDA (and without --dry-run) it prints what it skips and exits 0.
# Environment: PYTHON (default: python), GPU_CHECK_TOTAL (seconds, default 530), GPU_CHECK_TESTS_CAP
# (phase A cap, default 230), GPU_CHECK_SUITE (default-suite paths; the dry run uses a small stand-in).
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-$(mktemp -d -t gpu-check-XXXXXX)}
mkdir -p "$OUT" reports/benchmarks
TOTAL=${GPU_CHECK_TOTAL:-530}
TESTS_CAP=${GPU_CHECK_TESTS_CAP:-230}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
note() { echo "[gpu_check $(elapsed)s] $*" | tee -a "$OUT/summary.txt"; }

HAS_CUDA=$("$PYTHON" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
note "OUT=$OUT dry_run=$DRY cuda=$HAS_CUDA commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ "$HAS_CUDA" != 1 ] && [ "$DRY" != 1 ]; then
    note "no CUDA device: skipped pytest -m gpu, the default suite and benchmarks/bench_gpu.py (run with --dry-run to test the plumbing)"
    exit 0
fi
if command -v nvidia-smi >/dev/null; then nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1; fi
"$PYTHON" -c "import torch, sys; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda)" > "$OUT/versions.txt" 2>&1

if [ "$DRY" = 1 ]; then
    SUITE=${GPU_CHECK_SUITE:-tests/test_graphed_step.py}   # the whole suite does not fit a loaded 2-core CPU
    BENCH_OUT="$OUT/bench"; BENCH_ARGS=(--dry-run)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
    SUITE=${GPU_CHECK_SUITE:-}
    BENCH_OUT=reports/benchmarks; BENCH_ARGS=()
fi

# Phase A: the two test runs side by side (tests, not timings: sharing the GPU is harmless).
timeout --kill-after=10 "$TESTS_CAP" "$PYTHON" -m pytest -m gpu -q -rA -p no:cacheprovider \
    --junitxml="$OUT/pytest_gpu.xml" > "$OUT/pytest_gpu.log" 2>&1 &
GPU_PID=$!
# shellcheck disable=SC2086
timeout --kill-after=10 "$TESTS_CAP" "$PYTHON" -m pytest -x -q -p no:cacheprovider --durations=15 \
    --junitxml="$OUT/pytest_default.xml" $SUITE > "$OUT/pytest_default.log" 2>&1 &
SUITE_PID=$!
wait $GPU_PID; GPU_RC=$?
wait $SUITE_PID; SUITE_RC=$?
for run in gpu default; do
    rc=$([ $run = gpu ] && echo $GPU_RC || echo $SUITE_RC)
    verdict=$([ "$rc" = 0 ] && echo passed || { [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "TIMED OUT at ${TESTS_CAP}s" || echo "FAILED"; })
    note "pytest $run: rc=$rc ($verdict): $(tail -n 1 "$OUT/pytest_$run.log")"
done

# Phase B: the benchmark, alone, in what is left (its sections cap themselves and save partial figures).
LEFT=$(( TOTAL - $(elapsed) - 20 ))
[ "$DRY" = 1 ] && [ $LEFT -gt 150 ] && LEFT=150
if [ $LEFT -lt 60 ]; then
    note "bench_gpu.py: skipped, only ${LEFT}s left"
    BENCH_RC=124
else
    timeout --kill-after=10 $(( LEFT + 15 )) "$PYTHON" benchmarks/bench_gpu.py "${BENCH_ARGS[@]}" --budget "$LEFT" \
        --out "$BENCH_OUT" > "$OUT/bench_gpu.log" 2>&1
    BENCH_RC=$?
    note "bench_gpu.py: rc=$BENCH_RC, budget ${LEFT}s"
fi
cp "$BENCH_OUT"/gpu*.json "$BENCH_OUT"/gpu*.md "$OUT"/ 2>/dev/null
note "done: pytest -m gpu rc=$GPU_RC, default suite rc=$SUITE_RC, bench rc=$BENCH_RC; files in $OUT"
[ "$GPU_RC" = 0 ] && [ "$SUITE_RC" = 0 ] && [ "$BENCH_RC" = 0 ]
