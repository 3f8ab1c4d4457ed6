#!/usr/bin/env bash
# Planning from the lock: `imagesmith plan` (validate every file, lock afresh, compare with
# `imagesmith.lock`) on projects of 1,000, 2,000 and 4,000 specs, and `imagesmith lock --check`.
# Target (issue 9): under one second for 1,000 specs, growing linearly.
#
# Usage: bash bench/plan.sh [COUNT...]   (default: 1000 2000 4000)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
counts=("${@:-1000 2000 4000}")
read -r -a counts <<< "${counts[*]}"
cargo build --release -q -p imagesmith
bin="$PWD/target/release/imagesmith"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

generate() { # dir, count
  python3 - "$1" "$2" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(root, "specs"))
with open(os.path.join(root, "imagesmith.yaml"), "w") as f:
    f.write("kind: project\nname: bench\nos: [amazonlinux2023, ubuntu2204, debian12]\n"
            "defaults:\n  terraform: 1.6.6\n  tflint: \"0.53.0\"\n  trivy: 0.53.0\n")
random.seed(9)
bases = {
    "golden-container-amazonlinux2023": ["aws_cli: 2.17.0", "python: 3.10", "trivy:", "terraform:", "docker: 27.0.3"],
    "golden-container-ubuntu2204": ["aws_cli: 2.17.0", "terraform:", "tflint:", "snyk: 1.1292.0", "trivy: 0.53.0", "python: 3.10"],
    "golden-container-debian12": ["python: 3.11", "aws_cli: 2.9.19", "terraform: 1.6.6", "tflint:"],
}
for i in range(count):
    base = random.choice(list(bases))
    lines = random.sample(bases[base], k=random.randint(1, len(bases[base])))
    body = "image_type: container\nbase_image: %s\ncomponents:\n%s" % (base, "".join("  %s\n" % l for l in lines))
    with open(os.path.join(root, "specs", "spec-%05d.yaml" % i), "w") as f:
        f.write(body)
PY
}

measure() { # label, dir, command...: the median of 3 runs and its peak memory
  local label="$1" dir="$2"; shift 2
  local results=()
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    (cd "$dir" && /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out" 2> "$work/err") || true
    end=$(date +%s.%N)
    results+=("$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') $(tail -n1 "$work/rss")")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n 2p | {
    read -r seconds rss
    printf '%-36s %8.3f s   peak RSS %7d KiB   (median of 3)\n' "$label" "$seconds" "$rss"
    echo "$seconds" > "$work/last"
  }
}

first=""
for count in "${counts[@]}"; do
  dir="$work/p$count"
  generate "$dir" "$count"
  (cd "$dir" && "$bin" lock 2> "$work/lock.err") || { cat "$work/lock.err"; exit 1; }
  echo "== $count specs ($(du -sh "$dir/imagesmith.lock" | cut -f1) lock)"
  measure "imagesmith plan --format json" "$dir" "$bin" plan --format json
  plan=$(cat "$work/last")
  changed=$(python3 -c "import json; d=json.load(open('$work/out')); print(sum(i['changed'] for i in d['images']), 'of', len(d['images']), 'images changed')")
  echo "   $changed"
  measure "imagesmith lock --check" "$dir" "$bin" lock --check
  # The seed's upgrade: one default line changes, the plan lists the followers.
  sed -i 's/terraform: 1.6.6/terraform: 1.7.0/' "$dir/imagesmith.yaml"
  measure "imagesmith plan (after a bump)" "$dir" "$bin" plan --format json
  changed=$(python3 -c "import json; d=json.load(open('$work/out')); print(sum(i['changed'] for i in d['images']), 'of', len(d['images']), 'images changed')")
  echo "   $changed"
  if [ -z "$first" ]; then first="$plan $count"; fi
  read -r base_seconds base_count <<< "$first"
  awk -v s="$plan" -v c="$count" -v bs="$base_seconds" -v bc="$base_count" 'BEGIN {
    printf "   %.3f ms per spec; %.2fx the time for %.2fx the specs\n", 1000 * s / c, s / bs, c / bc }'
done
