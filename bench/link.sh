#!/usr/bin/env bash
# camwire against GStreamer through real shaped links. The sender runs in a
# network namespace of its own, joined to this one by a veth pair whose two
# ends are shaped with `tc tbf` (rate only: this kernel has no netem, so no
# added delay or loss). At each rate and size camwire h264, camwire jpeg and
# GStreamer (x264enc, gdppay over tcpserversink) stream the same Big Buck
# Bunny clip in real time, taking turns, and each receiver's pictures are
# compared with the clip.
#
# Usage (as root, from the repo root):  bench/link.sh
#   BENCH_RATES="1 3 8 20 unshaped"  link rates in Mbit/s, and/or unshaped
#   BENCH_SIZES="1280x720 640x480"   clip sizes (bench/clip.sh makes missing ones)
#   BENCH_SECONDS=10                 seconds of video in each run
#   BENCH_BITRATE=2000               H.264 target of both tools, kbit/s
#   BENCH_INSTALL=1                  apt-get install GStreamer, ffmpeg, iproute2 if missing
#   BENCH_KEEP=1                     keep the logs, frame logs and decoded y4m files
#   BENCH_PATTERN=1                  for a camwire that cannot read a clip or write y4m:
#                                    camwire streams its test pattern (no PSNR), GStreamer
#                                    the clip; camwire h264 only if it has it
# Prints a Markdown table and writes target/bench/link-DATE.csv.
set -euo pipefail

cd "$(dirname "$0")/.."
read -r -a RATES <<<"${BENCH_RATES:-1 3 8 20 unshaped}"
read -r -a SIZES <<<"${BENCH_SIZES:-1280x720 640x480}"
SECS=${BENCH_SECONDS:-10}
KBPS=${BENCH_BITRATE:-2000}
# shellcheck source=bench/netlink.sh
source bench/netlink.sh
for r in "${RATES[@]}"; do [[ $r =~ ^([1-9][0-9]*|unshaped)$ ]] || die "BENCH_RATES: $r is not a whole Mbit/s or 'unshaped'"; done
for s in "${SIZES[@]}"; do [[ $s =~ ^[0-9]+x[0-9]+$ ]] || die "BENCH_SIZES: $s does not look like 1280x720"; done
[[ $SECS =~ ^[1-9][0-9]*$ && $SECS -le 20 ]] || die "BENCH_SECONDS must be 1 to 20 (the clips last 20 s)"
[[ $KBPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_BITRATE must be kbit/s, a positive number"

FRAMES=$((SECS * FPS))
# After a sender's last frame, how long what is still on its way may take to
# arrive and count.
GRACE=3
LIMIT=$((SECS * 3 + 30))   # no run takes this long unless something hangs

# ---- setup -------------------------------------------------------------------
need_tools

cargo build --release --quiet
# The camwire side needs flags that arrived with H.264; say which are absent
# instead of failing somewhere in the middle.
absent="" h264=1
sender_help=$("$BIN/sender" --help) receiver_help=$("$BIN/receiver" --help)
grep -q -- '--bitrate' <<<"$sender_help" || { absent+=" sender --bitrate"; h264=0; }
grep -qw 'h264' <<<"$sender_help" || { absent+=" sender --codec h264"; h264=0; }
grep -qi 'y4m' <<<"$sender_help" || absent+=" sender --source FILE.y4m"
grep -q -- '--y4m' <<<"$receiver_help" || absent+=" receiver --y4m"
PATTERN=${BENCH_PATTERN:-0}
((PATTERN)) || [[ -z $absent ]] || die "this camwire build lacks:$absent (build a checkout that has them, or BENCH_PATTERN=1)"

CLIPS=()
for s in "${SIZES[@]}"; do [[ -s target/clips/bbb-$s.y4m ]] || CLIPS+=("$s"); done
((${#CLIPS[@]} == 0)) || bench/clip.sh "${CLIPS[@]}" >/dev/null

link_up

# ---- machine facts -------------------------------------------------------------
echo "# camwire against GStreamer over shaped links"
echo
machine_facts
echo "- each run: $SECS s of Big Buck Bunny at $FPS fps; H.264 at $KBPS kbit/s, x264 ultrafast/zerolatency for GStreamer"
if ((PATTERN)); then
  echo "- BENCH_PATTERN=1: camwire streams its test pattern, not the clip, so its rows have no PSNR"
  echo "  and its bitrates and ages are not those of the same pictures as GStreamer's"
fi
echo

# ---- the runs ------------------------------------------------------------------
# camwire_run CODEC CLIP OUT: a sender in the namespace, a headless receiver
# here; leaves OUT.json, OUT.csv (the frame log) and OUT.y4m.
camwire_run() {
  local codec=$1 clip=$2 out=$3 rpid
  local source=(--source "$clip") extra=() y4m=(--y4m "$out.y4m")
  [[ $codec == h264 ]] && extra=(--bitrate "$KBPS")
  if ((PATTERN)); then
    local size=${clip##*-}; size=${size%.y4m}
    source=(--source test --width "${size%x*}" --height "${size#*x}"); y4m=()
  fi
  camwire_sender "$out" "$codec" "${source[@]}" --fps "$FPS" --codec "$codec" "${extra[@]}" --frames "$FRAMES"
  camwire_receiver host "$out" --frames "$FRAMES" "${y4m[@]}"
  rpid=$RECEIVER_PID
  wait "$rpid" || { cat "$out.err" >&2; die "camwire receiver ($codec) failed"; }
  wait "$SENDER_PID" || { cat "$out.sender.err" >&2; die "camwire sender ($codec) failed"; }
  exec {SENDER_FD}<&-
  PIDS=()
}

# gst_run CLIP OUT: the same through GStreamer; leaves the stamp logs OUT.tx
# (frames as they leave the real-time pacing) and OUT.rx (as they arrive and
# are decoded), and OUT.y4m.
gst_run() {
  local clip=$1 out=$2
  gst_sender "$out" "$clip" "$FRAMES"
  gst_receiver host "$out" "$out.y4m"
  gst_finish "$out" "$GRACE" "$RECEIVER_PID"
}

mkdir -p target/bench
CSV=target/bench/link-$(date +%Y%m%d-%H%M%S).csv
python3 "$STATS" header >"$CSV"
TOOLS=(camwire-h264 camwire-jpeg gstreamer)
((PATTERN && !h264)) && TOOLS=(camwire-jpeg gstreamer)
echo "running: ${RATES[*]} x ${SIZES[*]}, ${#TOOLS[@]} tools, $SECS s each..." >&2
turn=0
for rate in "${RATES[@]}"; do
  shape "$rate"
  for size in "${SIZES[@]}"; do
    clip=target/clips/bbb-$size.y4m
    # Each tool goes first in turn, so none always meets a fresh machine.
    for ((k = 0; k < ${#TOOLS[@]}; k++)); do
      tool=${TOOLS[$(((turn + k) % ${#TOOLS[@]}))]}
      out=$TMP/$rate-$size-$tool
      echo "  $rate $size $tool" >&2
      case $tool in
        camwire-*) camwire_run "${tool#camwire-}" "$clip" "$out"
                   python3 "$STATS" camwire "$rate" "$size" "$tool" "$out.json" "$out.csv" \
                     "$( ((PATTERN)) || echo "$out.y4m")" "$clip" >>"$CSV" ;;
        gstreamer) gst_run "$clip" "$out"
                   python3 "$STATS" gst "$rate" "$size" "$tool" "$out.tx" "$out.rx" "$out.y4m" "$clip" >>"$CSV" ;;
      esac
      [[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$out.y4m"   # hundreds of MB each at 1280x720
    done
    turn=$((turn + 1))
  done
done

# ---- report --------------------------------------------------------------------
python3 "$STATS" report "$CSV"
cat <<EOF

shown fps: frames decoded per second at the receiver; made fps: frames the
sender produced per second (GStreamer's from its 10th frame on: whether it
kept to real time). Frame age: decoded at the receiver minus made at the
sender, on this machine's one clock (camwire's from its --json; GStreamer's
from timestamps matched across both pipelines). Last frame age shows a
backlog: a sender that queues what the link cannot carry shows old frames
late. PSNR-Y: over all pixels of every decoded frame against the clip frame
it was made from (camwire's by Xseq, GStreamer's by its timestamp), from the
mean squared error. A sender's queued frames that never arrived within ${GRACE} s
of its end are made but not shown. CSV: $CSV
EOF
