#!/usr/bin/env bash
# Validation time of a 1 MiB spec, ASCII against the same with non-ASCII text (issue 8:
# positions were computed by walking each line from its start, so a long non-ASCII line made
# validate quadratic; the target is under 0.5 s for the non-ASCII spec).
#
# Two shapes, each generated twice, identical but for the text of its values: `e` in the
# ASCII one, `é` in the other (so the non-ASCII file has fewer characters but the same bytes
# give or take, and the same nodes):
#   lines  ~40,000 label lines (`  label_00001: "caf\xc3\xa9 00001"`), the shape people write;
#   flow   the same labels in one flow mapping on one line (`labels: {...}`), the hostile shape.
#
# Usage: bash bench/non-ascii.sh   (IMAGESMITH_BIN=path to time another build of the binary)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -n "${IMAGESMITH_BIN:-}" ]]; then
  bin="$IMAGESMITH_BIN"
else
  cargo build --release -q -p imagesmith
  bin="$PWD/target/release/imagesmith"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
limit = 1024 * 1024  # the loader's size limit: the files stay just under it
head = "image_type: container\nbase_image: golden-container-amazonlinux2023\ncomponents:\n  python: 3.10\n"
for name, letter in (("ascii", "e"), ("non-ascii", "\u00e9")):
    # lines: one label per line
    body, i = [head, "labels:\n"], 0
    size = sum(len(s.encode()) for s in body)
    while True:
        line = '  label_%05d: "caf%s cr%sme %05d"\n' % (i, letter, letter, i)
        if size + len(line.encode()) > limit - 64:
            break
        body.append(line); size += len(line.encode()); i += 1
    with open("%s/lines-%s.yaml" % (work, name), "w", encoding="utf-8") as f:
        f.write("".join(body))
    # flow: the same labels on one line
    parts, i = [], 0
    size = len((head + "labels: {}\n").encode())
    while True:
        part = 'label_%05d: "caf%s cr%sme %05d", ' % (i, letter, letter, i)
        if size + len(part.encode()) > limit - 64:
            break
        parts.append(part); size += len(part.encode()); i += 1
    with open("%s/flow-%s.yaml" % (work, name), "w", encoding="utf-8") as f:
        f.write(head + "labels: {" + "".join(parts).rstrip(", ") + "}\n")
PY

seconds() { # command...: the median wall time of 3 runs, in seconds
  local results=()
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$@" > "$work/out" 2>&1 || true
    end=$(date +%s.%N)
    results+=("$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')")
  done
  printf '%s\n' "${results[@]}" | sort -n | sed -n 2p
}

echo "== validate a 1 MiB spec, median of 3"
printf '%-8s %10s %12s %10s %10s   %s\n' shape bytes labels ASCII non-ASCII result
for shape in lines flow; do
  a="$work/$shape-ascii.yaml"; n="$work/$shape-non-ascii.yaml"
  ta=$(seconds "$bin" validate "$a")
  "$bin" validate "$a" > "$work/a.out" 2>&1 && ra=valid || ra="INVALID (exit $?)"
  tn=$(seconds "$bin" validate "$n")
  "$bin" validate "$n" > "$work/n.out" 2>&1 && rn=valid || rn="INVALID (exit $?)"
  labels=$(grep -o 'label_[0-9]*' "$n" | wc -l)
  printf '%-8s %10s %12s %8s s %8s s   %s / %s\n' "$shape" "$(stat -c %s "$n")" "$labels" "$ta" "$tn" "$ra" "$rn"
  awk -v t="$tn" 'BEGIN { if (t >= 0.5) { print "   non-ASCII over the 0.5 s target"; exit 1 } }' || status=1
done
exit "${status:-0}"
