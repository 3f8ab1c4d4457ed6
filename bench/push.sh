#!/usr/bin/env bash
# Pushing one OCI layout to a local Distribution registry (Debian's docker-registry) with
# `imagesmith push` and with `skopeo copy`, each into a fresh registry (cold), then the
# unchanged re-push. Target (issue 11): cold push no slower than skopeo; an unchanged
# re-push under 0.1 s.
#
# Usage: bash bench/push.sh [LAYERS] [MIB_PER_LAYER] [ROUNDS]   (default 5 layers of 40 MiB, 3 rounds)
#   PROFILE=dev: time the test build's binary (CI does, to spare a release build; the
#   dependencies doing the work, sha2 and ureq, are optimised in it too) instead of release.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
layers="${1:-5}"
mib="${2:-40}"
rounds="${3:-3}"
profile="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "$profile" = release ]; then
  cargo build --release -q -p imagesmith
  cargo build --release -q -p imagesmith-oci --example random_layout
  bin="$target/release/imagesmith"
  examples="$target/release/examples"
else
  # The workspace's feature set, as the test build has it: nothing is compiled again
  cargo build -q --workspace --bins --example random_layout
  bin="$target/debug/imagesmith"
  examples="$target/debug/examples"
fi
echo "imagesmith: $profile build; $(skopeo --version)"
work="$(mktemp -d /var/tmp/imagesmith-bench-push.XXXXXX)"
pids=()
all=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$examples/random_layout" "$work/layout" "$layers" "$mib" >/dev/null
echo "layout: $layers layers of $mib MiB (incompressible), $(du -sm "$work/layout" | cut -f1) MiB"

start_registry() { # NAME -> prints host:port
  local name="$1" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/$name"
  cat > "$work/$name/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/$name/storage
http:
  addr: 127.0.0.1:$port
  secret: bench
YAML
  docker-registry serve "$work/$name/config.yml" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  echo "127.0.0.1:$port"
}

seconds() { python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{time.perf_counter() - t:.3f}")
PY
}

for round in $(seq "$rounds"); do
  a=$(start_registry "skopeo$round")
  b=$(start_registry "imagesmith$round")
  s=$(seconds skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$a/bench:v1")
  i=$(seconds env IMAGESMITH_CACHE_DIR="$work/cache" "$bin" push "$work/layout" "$b/bench:v1")
  r=$(seconds env IMAGESMITH_CACHE_DIR="$work/cache" "$bin" push "$work/layout" "$b/bench:v1")
  rs=$(seconds skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$a/bench:v1")
  echo "round $round: cold push: skopeo copy ${s}s, imagesmith push ${i}s; unchanged re-push: imagesmith ${r}s, skopeo ${rs}s"
  all+=("$s $i $r $rs")
done
python3 - "${all[@]}" <<'PY'
import statistics, sys
rows = [list(map(float, row.split())) for row in sys.argv[1:]]
skopeo, imagesmith, again, skopeo_again = (statistics.median(col) for col in zip(*rows))
print(f"median cold push: skopeo {skopeo:.3f}s, imagesmith {imagesmith:.3f}s "
      f"({imagesmith / skopeo:.2f}x, target <= 1x); unchanged re-push: imagesmith {again:.3f}s "
      f"(target < 0.1 s), skopeo {skopeo_again:.3f}s")
PY
