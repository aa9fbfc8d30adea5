#!/bin/bash
# Writes, for every real export in tests/data/cv-exports and each of its test
# images, <OUT>/<export>/<image>.json (`edgevision predict`) and <image>.npy
# (`edgevision tensor`), for scripts/arm/compare.py. Run on x86 and inside an
# ARM root with that root's binary:
#   scripts/arm/outputs.sh BINARY OUT
# Exports that ship no images of their own (the Android fruit models) get the
# apple/banana sample's fruit images. One `predict` process per export (one
# JSON line per image, model loaded once), one `tensor` process per image.
set -euo pipefail
binary=$1
out=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
data=$src/tests/data/cv-exports
for dir in "$data"/*/; do
  compgen -G "${dir}model.*" >/dev/null || compgen -G "${dir}app/model.*" >/dev/null || continue
  name=$(basename "$dir")
  images=$dir/images
  [[ -d $images ]] || images=$data/iotedge-applebanana-tf/images
  mkdir -p "$out/$name"
  mapfile -t files < <(find "$images" -type f | sort)
  bases=()
  for image in "${files[@]}"; do
    bases+=("$(realpath --relative-to="$images" "$image" | tr / _)")
    "$binary" tensor --model "$dir" "$image" --out "$out/$name/${bases[-1]}.npy" >/dev/null 2>&1 || true
  done
  # A failed image prints no line: the lines would no longer match, so then
  # each image is predicted on its own.
  if "$binary" predict --model "$dir" "${files[@]}" >"$out/$name/all.jsonl" 2>/dev/null &&
    [[ $(wc -l <"$out/$name/all.jsonl") -eq ${#files[@]} ]]; then
    i=0
    while IFS= read -r line; do printf '%s\n' "$line" >"$out/$name/${bases[i]}.json"; i=$((i + 1)); done <"$out/$name/all.jsonl"
  else
    for i in "${!files[@]}"; do
      "$binary" predict --model "$dir" "${files[i]}" >"$out/$name/${bases[i]}.json" 2>/dev/null || true
    done
  fi
  rm -f "$out/$name/all.jsonl"
done
