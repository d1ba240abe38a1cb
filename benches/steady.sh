#!/usr/bin/env bash
# Steadiness of the training speed on two threads (issue 15): ROUNDS rounds
# of `fitcheck run PRESET --epochs EPOCHS`, each round running every build
# in BINS on two threads and the first one on one thread
# (RAYON_NUM_THREADS=1), interleaved so all see the same machine. Prints
# every epoch's samples/s, then per configuration: the slowest, median and
# fastest epoch, how many epochs fell below the one-thread run's slowest,
# the spread within a run (the largest distance of an epoch from the run's
# median, as a share of it), and how many epochs the step governor ran
# partly on one thread (mean threads per step below 1.95).
#   benches/steady.sh [ROUNDS] [EPOCHS]
#   BINS="target/release/fitcheck /tmp/old/fitcheck" benches/steady.sh 10
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
epochs=${2:-4}
preset=${PRESET:-mnist-mlp}
[[ -n ${NO_BUILD:-} ]] || cargo build --release --quiet
read -r -a bins <<<"${BINS:-target/release/fitcheck}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Each epoch as samples/s, with ":threads" (the mean threads per step) when
# the build reports it.
speeds() {
  "$@" run "$preset" --epochs "$epochs" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("type") == "epoch":
        t = e.get("threads")
        v = round(e["samples_per_s"])
        print(str(v) + (":" + str(t) if t is not None else ""), end=" ")'
}
for i in $(seq "$rounds"); do
  for b in "${bins[@]}"; do
    echo "2 $b $(speeds "$b")" | tee -a "$out"
  done
  echo "1 ${bins[0]} $(RAYON_NUM_THREADS=1 speeds "${bins[0]}")" | tee -a "$out"
  echo "  round $i, load $(cut -d' ' -f1 /proc/loadavg)"
done
python3 - "$out" <<'EOF'
import statistics, sys
runs, alone = {}, {}
for line in open(sys.argv[1]):
    threads, binary, *xs = line.split()
    runs.setdefault((threads, binary), []).append([float(x.split(":")[0]) for x in xs])
    alone.setdefault((threads, binary), []).extend(float(x.split(":")[1]) for x in xs if ":" in x)
floor = min(min(r) for (t, _), rs in runs.items() if t == "1" for r in rs)
print(f"\none thread's slowest epoch: {floor:,.0f}")
print(f"{'threads':>7} {'build':<34} {'runs':>4} {'slowest':>8} {'median':>8} {'fastest':>8} {'below':>7} {'±spread med (max)':>17}")
for (t, b), rs in runs.items():
    eps = [x for r in rs for x in r]
    # The largest distance of an epoch from its run's median (the "±").
    spread = [max(abs(x - statistics.median(r)) for x in r) / statistics.median(r) for r in rs if r]
    below = sum(x < floor for x in eps)
    print(f"{t:>7} {b[-34:]:<34} {len(rs):>4} {min(eps):>8,.0f} {statistics.median(eps):>8,.0f} {max(eps):>8,.0f} "
          f"{below:>3}/{len(eps):<3} {statistics.median(spread):>8.0%} ({max(spread):.0%})"
          + (f"   epochs with steps on one thread: {sum(t < 1.95 for t in alone[(t, b)])}" if alone.get((t, b)) else ""))
EOF
