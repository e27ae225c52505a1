#!/usr/bin/env bash
# Sender CPU per frame for H.264: camwire's whole sender (clip reading,
# OpenH264 encoding, sending to one headless receiver over 127.0.0.1)
# against GStreamer's x264enc (ultrafast, zerolatency) encoding the same
# clip at the same bitrate, rounds in turn so that the machine's drift hits
# both; then camwire's decoder per frame (examples/h264_speed).
#
# Usage (from the repo root):  bench/encode.sh [CLIP.y4m] [KBIT] [FRAMES] [ROUNDS]
#   defaults: target/clips/bbb-1280x720.y4m (made by bench/clip.sh), 2000, 600, 3
#   BENCH_INSTALL=1  as root: apt-get install GStreamer's x264enc and `time` if missing
set -euo pipefail

cd "$(dirname "$0")/.."
CLIP=${1:-target/clips/bbb-1280x720.y4m}
KBIT=${2:-2000}
FRAMES=${3:-600}
ROUNDS=${4:-3}
for n in "$KBIT" "$FRAMES" "$ROUNDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/encode.sh [CLIP.y4m] [KBIT] [FRAMES] [ROUNDS]" >&2; exit 2; }
done
die() { echo "bench: $*" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [[ ! -f $CLIP && $CLIP == target/clips/bbb-* ]]; then
  size=${CLIP#target/clips/bbb-}; bench/clip.sh "${size%.y4m}" >&2
fi
[[ -f $CLIP ]] || die "no clip at $CLIP (bench/clip.sh makes one)"
if [[ ${BENCH_INSTALL:-0} == 1 && $(id -u) == 0 ]]; then
  missing=""
  gst-inspect-1.0 --exists x264enc 2>/dev/null || missing="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly"
  [[ -x /usr/bin/time ]] || missing="$missing time"
  if [[ -n $missing ]]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >"$TMP/apt.log" 2>&1 \
      || { tail -5 "$TMP/apt.log" >&2; die "install failed"; }
  fi
fi
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (apt install time, or BENCH_INSTALL=1)"
GST=0
gst-inspect-1.0 --exists x264enc 2>/dev/null && gst-inspect-1.0 --exists y4mdec && GST=1
cargo build --release --quiet --bins --example h264_speed

# CPU seconds (user + system) of a command, from /usr/bin/time.
cpu_of() { awk '{ print $1 + $2 }' "$1"; }

camwire_round() {
  local out=$TMP/camwire
  rm -f "$out.banner"
  /usr/bin/time -f "%U %S" -o "$out.time" target/release/sender --bind 127.0.0.1:0 --open \
    --source "$CLIP" --codec h264 --bitrate "$KBIT" --fps 0 --frames "$FRAMES" \
    >"$out.banner" 2>"$out.err" &
  local sender=$!
  local addr=""
  for _ in $(seq 500); do
    addr=$(sed -n 's/^listening on //p' "$out.banner" 2>/dev/null)
    [[ -n $addr ]] && break
    kill -0 "$sender" 2>/dev/null || break
    sleep 0.02
  done
  [[ -n $addr ]] || { cat "$out.err" >&2; die "the sender did not start"; }
  target/release/receiver --connect "$addr" --headless --json >"$out.json"
  wait "$sender" || die "the sender failed: $(tail -1 "$out.err")"
  local frames
  frames=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["frames"])' "$out.json")
  python3 -c 'import sys; print(f"{float(sys.argv[1])*1000/int(sys.argv[2]):.2f}")' "$(cpu_of "$out.time")" "$frames"
}

gst_round() {
  /usr/bin/time -f "%U %S" -o "$TMP/gst.time" gst-launch-1.0 -q filesrc location="$CLIP" ! y4mdec \
    ! x264enc tune=zerolatency speed-preset=ultrafast bitrate="$KBIT" key-int-max=300 \
    ! fakesink >/dev/null 2>"$TMP/gst.err" || { cat "$TMP/gst.err" >&2; die "GStreamer failed"; }
  local clip_frames
  clip_frames=$(python3 -c '
import sys
f = open(sys.argv[1], "rb")
header = f.readline().split()
w = int(next(t[1:] for t in header if t[:1] == b"W")); h = int(next(t[1:] for t in header if t[:1] == b"H"))
size = w * h * 3 // 2
n = 0
while f.readline().startswith(b"FRAME"):
    f.seek(size, 1); n += 1
print(n)' "$CLIP")
  python3 -c 'import sys; print(f"{float(sys.argv[1])*1000/int(sys.argv[2]):.2f}")' "$(cpu_of "$TMP/gst.time")" "$clip_frames"
}

echo "# camwire H.264 encoding cost"
echo
echo "- date: $(date -Iseconds); host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- camwire: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); clip: $CLIP; $KBIT kbit/s; $FRAMES frames a camwire round"
echo "- gstreamer: $( ((GST)) && gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1 || echo 'n/a (no x264enc)')"
echo
echo "| round | camwire sender CPU ms/frame | x264enc CPU ms/frame | ratio |"
echo "|--:|--:|--:|--:|"
for r in $(seq "$ROUNDS"); do
  c=$(camwire_round)
  g=n/a; ratio=n/a
  if ((GST)); then
    g=$(gst_round)
    ratio=$(python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}x")' "$c" "$g")
  fi
  echo "| $r | $c | $g | $ratio |"
done
echo
target/release/examples/h264_speed "$CLIP" "$KBIT" 300
