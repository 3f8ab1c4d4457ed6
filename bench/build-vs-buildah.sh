#!/usr/bin/env bash
# Builds golden-container-debian12 with imagesmith and with buildah (vfs storage, chroot
# isolation, --layers) from the same Debian 12 base (an OCI image layout) through the same
# mirror, and prints both cold build times, both image sizes and both no-op rebuild times.
# Also, for information: imagesmith's cold build again with the first one's download cache
# (`<cache>/http`: apt's by-hash indexes and packages), which must give the same image.
#
#   sudo bash bench/build-vs-buildah.sh            # uses target/release/imagesmith (builds it)
#   IMAGESMITH=target/debug/imagesmith MIRROR=http://deb.debian.org/debian bash bench/...
#
# Needs root, buildah, skopeo, mmdebstrap or debootstrap (bash .ci/install-tools).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=${WORK:-/var/tmp/imagesmith-bench}
IMAGE=bench-golden-debian12
DOCKERFILE=Dockerfile.golden-container-debian12

if [ -z "${IMAGESMITH:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p imagesmith)
  IMAGESMITH=$REPO/target/release/imagesmith
fi
[ "$(id -u)" = 0 ] || { echo "error: run as root" >&2; exit 2; }
for tool in buildah skopeo; do
  command -v "$tool" >/dev/null || { echo "error: \`$tool\` is missing; run bash .ci/install-tools" >&2; exit 2; }
done

rm -rf "$WORK"; mkdir -p "$WORK/project/recipes"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# Sum of the compressed layer sizes in the image manifest (what a registry stores and pulls)
size_of() { skopeo inspect --raw "$1" | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# The project: the components of the built-in golden-container-debian12 that can be
# obtained here (chrony, node_exporter, process_exporter), as a recipe of its own
cd "$WORK/project"
printf 'kind: project\nname: bench\nos: [debian12]\n' > imagesmith.yaml
cat > "recipes/$IMAGE.yaml" <<RECIPE
kind: recipe
name: $IMAGE
description: Debian 12 container golden image (benchmark copy)
image_type: container
os: debian12
base_image: debian:12
version: 1.0.0
components:
  chrony:
  node_exporter:
  process_exporter:
RECIPE

echo "== preparing the shared base (not timed): Debian bookworm minbase from $MIRROR"
"$IMAGESMITH" build "$IMAGE" --cache-dir "$WORK/prep" --mirror "$MIRROR" --skip-unavailable --no-test >/dev/null 2>"$WORK/prep.log" \
  || { cat "$WORK/prep.log" >&2; exit 2; }
BASE_LAYOUT=$(dirname "$(ls "$WORK"/prep/bases/*/index.json | head -1)")
cp -a "$BASE_LAYOUT" "$WORK/base"

echo "== imagesmith: cold build (fresh cache; includes validate and test phases)"
t0=$(now)
"$IMAGESMITH" build "$IMAGE" --cache-dir "$WORK/cache" --base "debian:12=oci:$WORK/base:latest" \
  --skip-unavailable --output "$WORK/out" >"$WORK/imagesmith-cold.log" 2>&1 \
  || { cat "$WORK/imagesmith-cold.log" >&2; exit 2; }
t1=$(now)
"$IMAGESMITH" build "$IMAGE" --cache-dir "$WORK/cache" --base "debian:12=oci:$WORK/base:latest" \
  --skip-unavailable --output "$WORK/out" >"$WORK/imagesmith-noop.log" 2>&1
t2=$(now)
IS_COLD=$(elapsed "$t0" "$t1"); IS_NOOP=$(elapsed "$t1" "$t2")
IS_SIZE=$(size_of "oci:$WORK/out/$IMAGE:latest")

echo "== imagesmith: cold build again (fresh layer cache) with the first build's download cache"
mkdir -p "$WORK/cache-warm" && cp -a "$WORK/cache/http" "$WORK/cache-warm/"
t0=$(now)
"$IMAGESMITH" build "$IMAGE" --cache-dir "$WORK/cache-warm" --base "debian:12=oci:$WORK/base:latest" \
  --skip-unavailable --output "$WORK/out-warm" >"$WORK/imagesmith-warm.log" 2>&1 \
  || { cat "$WORK/imagesmith-warm.log" >&2; exit 2; }
t1=$(now)
IS_WARM=$(elapsed "$t0" "$t1")
digest_in() { awk -F'\t' -v name="$IMAGE" '$1 == name { print $2 }' "$1"; }
SAME=no; [ "$(digest_in "$WORK/imagesmith-cold.log")" = "$(digest_in "$WORK/imagesmith-warm.log")" ] && SAME=yes

echo "== buildah: cold build (fresh vfs storage, --isolation chroot, --layers)"
B=(buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver vfs)
t0=$(now)
"${B[@]}" pull -q "oci:$WORK/base:latest" >/dev/null
BU_PULL=$(elapsed "$t0" "$(now)")
"${B[@]}" tag "$("${B[@]}" images -q | head -1)" localhost/imagesmith-bench-base:latest
t0=$(now)
"${B[@]}" bud -q --isolation chroot --layers -f "$REPO/bench/$DOCKERFILE" -t "localhost/$IMAGE-buildah" "$REPO/bench" >"$WORK/buildah-cold.log" 2>&1 \
  || { cat "$WORK/buildah-cold.log" >&2; exit 2; }
t1=$(now)
"${B[@]}" bud -q --isolation chroot --layers -f "$REPO/bench/$DOCKERFILE" -t "localhost/$IMAGE-buildah" "$REPO/bench" >"$WORK/buildah-noop.log" 2>&1
t2=$(now)
BU_BUD=$(elapsed "$t0" "$t1"); BU_NOOP=$(elapsed "$t1" "$t2")
# Both cold figures go from the same OCI layout to a finished image: imagesmith's includes its
# import of the base, so buildah's includes its pull of it.
BU_COLD=$(awk -v a="$BU_PULL" -v b="$BU_BUD" 'BEGIN { printf "%.1f", a + b }')
"${B[@]}" push -q "localhost/$IMAGE-buildah" "oci:$WORK/buildah-out:latest" >/dev/null
BU_SIZE=$(size_of "oci:$WORK/buildah-out:latest")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
echo
printf '%-28s %14s %14s %8s\n' "" imagesmith buildah ratio
printf '%-28s %13ss %13ss %8s\n' "cold build (base from layout)" "$IS_COLD" "$BU_COLD" "$(ratio "$IS_COLD" "$BU_COLD")"
printf '%-28s %13ss %13ss %8s\n' "no-op rebuild" "$IS_NOOP" "$BU_NOOP" "$(ratio "$IS_NOOP" "$BU_NOOP")"
printf '%-28s %14s %14s %8s\n' "image size (gzip layers)" "$(mib "$IS_SIZE")" "$(mib "$BU_SIZE")" "$(ratio "$IS_SIZE" "$BU_SIZE")"
printf '%-28s %13ss %14s %8s\n' "cold, warm download cache" "$IS_WARM" "" "$(ratio "$IS_WARM" "$BU_COLD")"
echo "(same image digest from both imagesmith cold builds: $SAME)"
echo "(buildah's cold time is its pull of the base from the OCI layout, ${BU_PULL}s, plus bud, ${BU_BUD}s; bud alone: ratio $(ratio "$IS_COLD" "$BU_BUD"), which still counts imagesmith's own import of the base)"
grep -h 'http cache:' "$WORK/imagesmith-cold.log" | sed 's/^/cold: /' || true
echo "(targets: cold <= 0.7x, no-op <= 0.05x, size <= 1x; logs in $WORK)"
