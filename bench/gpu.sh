#!/usr/bin/env bash
# Everything measured on a GPU machine, in one call, written as BENCHMARKS.md's GPU section.
#
#   bash bench/gpu.sh                 # on the GPU machine, in a checkout
#   python bench/gpu_section.py OUT/gpu-section.md   # back here: into BENCHMARKS.md
#
# Made for the lent device (JAX and PyTorch there, no TensorFlow, nothing reachable):
# Keras comes from the wheels carried in .whl/ (keras, namex, optree; `pip download
# --no-deps --only-binary=:all: --python-version 3.12 keras namex optree -d .whl`), the
# project from the tree, without its dependencies. Each part runs under its own time
# limit and a part that cannot run (dlib or ffmpeg absent for the folder bench) says why
# in the section instead of stopping the rest. The section goes to $OUT (or bench/out/).
#   1. inference, Meso4 and MesoInception4, device-resident uint8, batch 512/1024/4096,
#      float32/float16/bfloat16 (target: 250,000 faces/s on an H100)
#   2. training images/s, plain fit and df_CNN's path (target: 10,000 images/s)
#   3. the folder bench with --jobs 1 2 4 8 16 (the CPU side of that machine)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
SECTION="$OUT/gpu-section.md"
PY="${PYTHON:-python3}"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}" TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c "import keras" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install --quiet --no-deps --no-index .whl/*.whl >>"$LOG" 2>&1
fi

run() {  # run TITLE LIMIT_S COMMAND...: its output as a fenced block in the section
    local title="$1" limit="$2"; shift 2
    echo "### $title" >>"$SECTION"
    echo >>"$SECTION"
    echo '```bash' >>"$SECTION"
    echo "$*" >>"$SECTION"
    echo '```' >>"$SECTION"
    echo >>"$SECTION"
    echo '```' >>"$SECTION"
    if timeout "$limit" "$@" >"$OUT/part.txt" 2>>"$LOG"; then
        grep -v -e '^WARNING' -e '^I0000' "$OUT/part.txt" >>"$SECTION"
    else
        local rc=$?
        grep -v -e '^WARNING' -e '^I0000' "$OUT/part.txt" >>"$SECTION"
        echo "(did not finish: exit $rc$( [ $rc = 124 ] && echo ", over its ${limit} s"); the" \
             "last lines of $LOG say why)" >>"$SECTION"
        tail -5 "$LOG" | sed 's/^/  /' >>"$SECTION"
    fi
    echo '```' >>"$SECTION"
    echo >>"$SECTION"
}

{
    echo "## GPU"
    echo
    echo "$(date -u +%F), $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1),"
    echo "$(nproc) CPU cores, Keras backend $KERAS_BACKEND; made by \`bash bench/gpu.sh\` in one call."
    echo
} >"$SECTION"

run "Inference" 240 "$PY" bench/bench_inference.py --n 65536 --device-resident \
    --models meso4 mesoinception4 --batch-size 512 1024 4096 \
    --precision float32 float16 bfloat16
run "Training" 180 "$PY" bench/bench_training.py --steps 40 --repeat 2 --batch-size 1024 \
    --precision bfloat16
run "A folder of videos" 150 "$PY" bench/bench_folder.py --jobs 1 2 4 8 16 --repeat 1

echo "section written to $SECTION"
