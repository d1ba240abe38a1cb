#!/usr/bin/env bash
# Side-by-side throughput on the reference task (MNIST 784-256-128-10 ReLU,
# softmax-CE, plain SGD lr 0.1, batch 128, 2 threads), interleaved so both
# see the same machine noise. Needs the reference trainers of
# ../shared/bench and a venv with torch (see that folder's README):
#   TORCH_PY=/tmp/tenv/bin/python benches/compare.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
py=${TORCH_PY:-python3}
bench_dir=${BENCH_DIR:-../shared/bench}
cargo build --release --quiet
for i in $(seq "$rounds"); do
  "$py" "$bench_dir/torch_mlp.py" --threads 2 --epochs 5 | tail -1 | sed 's/^/torch    /'
  ./target/release/fitcheck bench mnist-mlp --epochs 5 --set 'hidden=[256,128]' \
    --set 'optimizer=Sgd(momentum: 0.0, nesterov: false)' --set lr=0.1 --set batch_size=128 | sed 's/^/fitcheck /'
done
