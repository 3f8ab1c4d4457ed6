#!/usr/bin/env bash
# Validation throughput and hostile-input cost.
#
# 1. Generates 10,000 specs (valid and invalid mixes over the OSes and components of the
#    built-in catalog) and times `imagesmith validate` on them (full structural + semantic
#    checks) against `check-jsonschema` with the exported JSON Schema (structure only).
# 2. Times a 10 MB spec and a YAML alias bomb, with peak memory.
#
# Usage: bash bench/validate.sh [COUNT]   (needs check-jsonschema: bash .ci/install-tools)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count="${1:-10000}"
cargo build --release -q -p imagesmith
bin="$PWD/target/release/imagesmith"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work/specs" "$count" <<'PY'
import os, random, sys
out, count = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
random.seed(42)
bases = {
    "golden-container-amazonlinux2023": ["aws_cli: 2.17.0", "python: 3.10", "trivy: 0.53.0", "terraform: 1.6.6", "splunk_indexer: 9.3.0", "docker: 27.0.3"],
    "golden-container-ubuntu2204": ["aws_cli: 2.17.0", "terraform: 1.6.6", "tflint: 0.53.0", "snyk: 1.1292.0", "trivy: 0.53.0", "python: 3.10"],
    "golden-container-debian12": ["python: 3.11", "aws_cli: 2.9.19"],
}
for i in range(count):
    base = random.choice(list(bases))
    lines = random.sample(bases[base], k=random.randint(1, len(bases[base])))
    if i % 10 == 9:  # one in ten has a problem
        lines.append(random.choice(["pythn: 3.10", "trivy: 0.69.4", "terraform: \"1.6.6; id\""]))
    body = "image_type: container\nbase_image: %s\ncomponents:\n%s" % (base, "".join("  %s\n" % l for l in lines))
    with open(os.path.join(out, "spec-%05d.yaml" % i), "w") as f:
        f.write(body)
PY
"$bin" schema spec > "$work/spec.schema.json"

measure() { # label, command...: the median of 3 runs, and its peak memory
  local label="$1"; shift
  local results=()
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out" 2>&1 || true
    end=$(date +%s.%N)
    results+=("$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') $(tail -n1 "$work/rss")")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n 2p | {
    read -r seconds rss
    printf '%-44s %8.3f s   peak RSS %6d KiB   (median of 3)\n' "$label" "$seconds" "$rss"
    echo "$seconds" > "$work/last"
  }
}

echo "== validate $count specs"
measure "imagesmith validate (full checks)" "$bin" validate --format json "$work/specs"
errors=$(python3 -c "import json,sys; d=json.load(open('$work/out')); print(d['errors'], 'errors in', d['files'], 'files')" 2>/dev/null || echo "?")
echo "   imagesmith found: $errors"
mine=$(cat "$work/last")
if command -v check-jsonschema >/dev/null; then
  measure "check-jsonschema (schema only)" check-jsonschema --schemafile "$work/spec.schema.json" "$work"/specs/*.yaml
  theirs=$(cat "$work/last")
  awk -v a="$mine" -v b="$theirs" 'BEGIN { printf "   imagesmith is %.0fx faster\n", b / a }'
else
  echo "check-jsonschema not installed: bash .ci/install-tools"
fi

echo "== hostile input"
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
with open(work + "/big.yaml", "w") as f:
    f.write("image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n")
    while f.tell() < 10 * 1024 * 1024:
        f.write("  python: 3.10\n")
with open(work + "/bomb.yaml", "w") as f:
    f.write("image_type: container\nbase_image: golden-container-amazonlinux2023\nlabels:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
    for i in range(1, 30):
        p = i - 1
        f.write("  a%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % p] * 10)))
PY
measure "10 MB spec" "$bin" validate "$work/big.yaml"
measure "alias bomb (10^30 nodes if expanded)" "$bin" validate "$work/bomb.yaml"
