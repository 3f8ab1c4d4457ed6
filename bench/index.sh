#!/usr/bin/env bash
# Loading the built-in version index (every component's releases), which `validate` pays once
# per process, and `imagesmith validate` of one spec end to end.
# Target (issue 10): the whole index loads in under 20 ms.
#
# Usage: bash bench/index.sh
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --release -q -p imagesmith-index --example load
cargo build --release -q -p imagesmith
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/spec.yaml" <<'YAML'
image_type: container
base_image: golden-container-ubuntu2204
components:
  nodejs: 20.11.1
  opa: 0.61.0
  python: 3.12
  terraform: "1.7"
YAML
python3 - "$PWD/target/release/imagesmith" "$work/spec.yaml" <<'PY'
import statistics, subprocess, sys, time
bin, spec = sys.argv[1], sys.argv[2]
times = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([bin, "validate", spec], check=True, capture_output=True)
    times.append((time.perf_counter() - t) * 1000)
print(f"imagesmith validate (one spec, index included): median {statistics.median(times):.1f} ms, best {min(times):.1f} ms over 20 runs")
PY
