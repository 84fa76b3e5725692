#!/usr/bin/env bash
# One call on a borrowed CUDA machine: the GPU checks, the speed benchmarks and a training burst, inside a
# fixed wall-clock budget. Prepare once on the CPU machine (the checkout travels, ../shared does not):
#
#   python benchmarks/carry_training_data.py pack --out carry/data      # train + val structures, ~20 MiB
#   mkdir -p carry/predict && cp <some test-split structure files> carry/predict/
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d carry/whl gemmi==0.7.5        # the CUDA image has no gemmi
#
# then run, from the repository root there, `bash benchmarks/gpu_session.sh BUDGET_SECONDS` with
# OUT set to the folder whose files come back. Results: OUT/session.log (everything printed),
# OUT/predict_speed.json, OUT/train_speed-N.json (one per voxel channel set), OUT/<run>.tar.gz (see gpu_train_burst.py).
# The training runs are given as arguments after the budget, e.g. 'fine={"input_downsample": false}'.
# BURST_ARGS (environment) adds options of gpu_train_burst.py for every run, e.g. BURST_ARGS='--ema-decay 0.999'.
set -u
budget=${1:?usage: gpu_session.sh BUDGET_SECONDS NAME=JSON...}
shift
start=$(date +%s)
export PYTHONUNBUFFERED=1
exec > >(tee "$OUT/session.log") 2>&1
elapsed() { echo $(($(date +%s) - start)); }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site carry/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
# no install there: the benchmarks import protsteer.models, which only an install maps to models/
python3 -c "import protsteer.models" 2>/dev/null || ln -sfn ../models protsteer/models
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, gemmi; print('torch', torch.__version__, 'gemmi', gemmi.__version__, torch.cuda.get_device_name())"
python3 benchmarks/carry_training_data.py unpack --pack carry/data --cache /tmp/cache
mkdir -p /tmp/predict
for copy in a b c; do for f in carry/predict/*; do cp "$f" "/tmp/predict/${copy}_$(basename "$f")"; done; done
echo "== setup done at $(elapsed) s"

timeout 90 python3 benchmarks/gpu_check.py
echo "== gpu_check done at $(elapsed) s"
timeout 90 python3 benchmarks/predict_speed.py /tmp/predict/* --devices cuda --modes pipelined --batch-size 1024 \
    --json "$OUT/predict_speed.json"
echo "== predict_speed done at $(elapsed) s"
timeout 90 python3 benchmarks/layer_speed.py --repeats 5 --threads 8
echo "== layer_speed done at $(elapsed) s"

minutes=$(python3 -c "print(max(1.0, ($budget - $(elapsed) - 25) / 60))")
echo "== training burst: $minutes minutes"
python3 benchmarks/gpu_train_burst.py --data carry/data --cache /tmp/cache --out "$OUT" --work /tmp/burst \
    --minutes "$minutes" ${BURST_ARGS:-} "${@/#/--run=}"
for log in /tmp/burst/*/train.log; do echo "== $log"; grep -E "val step|samples/s|stopping|completed" "$log" | tail -12; done
echo "== session done at $(elapsed) s"
