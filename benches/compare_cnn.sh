#!/usr/bin/env bash
# Side-by-side throughput on the mnist-cnn preset (conv16-pool-conv32-pool-
# 64-10, SGD momentum 0.9, batch 64, 2 threads) against its PyTorch twin
# ../shared/bench/torch_cnn.py, interleaved so both see the same machine
# noise. Each round runs both once (order alternating) and prints both
# throughputs and their ratios; the end prints the median of the per-round
# ratios. Needs a Python with torch:
#   TORCH_PY=/tmp/tenv/bin/python benches/compare_cnn.sh [ROUNDS]
# fitcheck trains one epoch on the full training split (50,000 images) and
# evaluates the 10,000 validation images in batches of 1,000; the twin trains
# on TORCH_N images (second of two passes) and evaluates 10,000 in batches
# of 1,000.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
py=${TORCH_PY:-python3}
bench_dir=${BENCH_DIR:-../shared/bench}
torch_n=${TORCH_N:-20000}
cargo build --release --quiet
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
ratios_t=() ratios_e=()
printf '%-6s %12s %12s %12s %12s %8s %8s\n' round torch_train fc_train torch_eval fc_eval train_x eval_x
for i in $(seq "$rounds"); do
  run_torch() { "$py" "$bench_dir/torch_cnn.py" "$torch_n" | tail -1; }
  run_fc() { ./target/release/fitcheck bench mnist-cnn --epochs 1 --set train_size=None; }
  if (( i % 2 )); then t=$(run_torch); f=$(run_fc); else f=$(run_fc); t=$(run_torch); fi
  tt=$(field train_samples_per_s <<<"$t"); te=$(field eval_samples_per_s <<<"$t")
  ft=$(field train_samples_per_s <<<"$f"); fe=$(field eval_samples_per_s <<<"$f")
  if [[ -z $tt || -z $te || -z $ft || -z $fe ]]; then
    echo "round $i: could not read the throughputs from: $t / $f" >&2
    exit 1
  fi
  rt=$(awk -v a="$ft" -v b="$tt" 'BEGIN { printf "%.2f", a / b }')
  re=$(awk -v a="$fe" -v b="$te" 'BEGIN { printf "%.2f", a / b }')
  ratios_t+=("$rt") ratios_e+=("$re")
  printf '%-6s %12.0f %12.0f %12.0f %12.0f %8s %8s   load %s\n' "$i" "$tt" "$ft" "$te" "$fe" "$rt" "$re" \
    "$(cut -d' ' -f1 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median of per-round ratios: training $(median "${ratios_t[@]}")x, evaluation $(median "${ratios_e[@]}")x"
