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
die() { echo "bench: $*" >&2; exit 1; }
read -r -a RATES <<<"${BENCH_RATES:-1 3 8 20 unshaped}"
read -r -a SIZES <<<"${BENCH_SIZES:-1280x720 640x480}"
SECS=${BENCH_SECONDS:-10}
KBPS=${BENCH_BITRATE:-2000}
for r in "${RATES[@]}"; do [[ $r =~ ^([1-9][0-9]*|unshaped)$ ]] || die "BENCH_RATES: $r is not a whole Mbit/s or 'unshaped'"; done
for s in "${SIZES[@]}"; do [[ $s =~ ^[0-9]+x[0-9]+$ ]] || die "BENCH_SIZES: $s does not look like 1280x720"; done
[[ $SECS =~ ^[1-9][0-9]*$ && $SECS -le 20 ]] || die "BENCH_SECONDS must be 1 to 20 (the clips last 20 s)"
[[ $KBPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_BITRATE must be kbit/s, a positive number"
[[ $(id -u) == 0 ]] || die "needs root, to make a network namespace and shape it with tc"

FPS=30
FRAMES=$((SECS * FPS))
BIN=target/release
STATS=bench/link_stats.py
GST_PORT=5600
# GStreamer's sender holds its first frame back this long, so that the
# receiver is connected before it: a late receiver would wait for the next
# keyframe, seconds away. Frame age is measured from the held-back time.
GST_HOLD_NS=1000000000
# After a sender's last frame, how long what is still on its way may take to
# arrive and count.
GRACE=3
LIMIT=$((SECS * 3 + 30))   # no run takes this long unless something hangs

TMP=$(mktemp -d)
NS=cwlink$$
NEAR=cwla$$ FAR=cwlb$$
SUBNET=10.214.$(($$ % 250))
NEAR_IP=$SUBNET.1 FAR_IP=$SUBNET.2
PIDS=()   # processes of the run in progress
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if ip netns list 2>/dev/null | grep -qw "$NS"; then
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    # Deleting the namespace deletes the veth pair with it.
    ip netns del "$NS" 2>/dev/null || true
  fi
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
# Every process of a run is started in the background and waited for:
# a trapped signal ends `wait` at once, where a foreground child would
# first have to finish (timeout puts its child in a group of its own, out
# of reach of the terminal's Ctrl-C).
trap 'exit 130' INT TERM

# ---- setup -------------------------------------------------------------------
ELEMENTS="filesrc y4mdec identity x264enc h264parse gdppay tcpserversink tcpclientsrc gdpdepay avdec_h264 y4menc filesink"
missing_tools() {
  local t e
  for t in ip tc ss gst-launch-1.0 gst-inspect-1.0 ffmpeg; do command -v "$t" >/dev/null || echo "$t"; done
  if command -v gst-inspect-1.0 >/dev/null; then
    for e in $ELEMENTS; do gst-inspect-1.0 --exists "$e" || echo "$e"; done
  fi
}
missing=$(missing_tools | xargs)
if [[ -n $missing && ${BENCH_INSTALL:-0} == 1 ]]; then
  # x264enc is in plugins-ugly and avdec_h264 in libav, which a GStreamer
  # install often lacks.
  pkgs="iproute2 ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
        gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"
  echo "missing: $missing; installing" >&2
  # shellcheck disable=SC2086 # one word per package
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs; } >"$TMP/apt.log" 2>&1 \
    || { tail -5 "$TMP/apt.log" >&2; die "install failed"; }
  missing=$(missing_tools | xargs)
fi
[[ -z $missing ]] || die "missing: $missing (BENCH_INSTALL=1 installs them; x264enc: gstreamer1.0-plugins-ugly, avdec_h264: gstreamer1.0-libav)"

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

# ---- the link -----------------------------------------------------------------
ip netns add "$NS"
ip link add "$NEAR" type veth peer name "$FAR"
ip link set "$FAR" netns "$NS"
ip addr add "$NEAR_IP/30" dev "$NEAR"
ip link set "$NEAR" up
ip netns exec "$NS" ip addr add "$FAR_IP/30" dev "$FAR"
ip netns exec "$NS" ip link set "$FAR" up
ip netns exec "$NS" ip link set lo up

# shape RATE: both ends at RATE Mbit/s, or no qdisc at all when unshaped.
# The bucket holds 20 ms at the rate (at least 16 KiB, about ten full
# packets); a queue of 50 ms on top, as tests/slow_link.rs has, lets TCP
# see a full link as loss rather than as an ever longer queue.
shape() {
  local rate=$1 burst
  if [[ $rate == unshaped ]]; then
    tc qdisc del dev "$NEAR" root 2>/dev/null || true
    ip netns exec "$NS" tc qdisc del dev "$FAR" root 2>/dev/null || true
    return
  fi
  burst=$((rate * 1000000 / 8 / 50))
  ((burst >= 16384)) || burst=16384
  tc qdisc replace dev "$NEAR" root tbf rate "${rate}mbit" burst "$burst" latency 50ms
  ip netns exec "$NS" tc qdisc replace dev "$FAR" root tbf rate "${rate}mbit" burst "$burst" latency 50ms
}

# ---- machine facts -------------------------------------------------------------
echo "# camwire against GStreamer over shaped links"
echo
echo "- date: $(date -Iseconds)"
echo "- host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- kernel: $(uname -sr)"
echo "- camwire: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "- gstreamer: $(gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1), x264enc $(gst-inspect-1.0 x264enc | sed -n 's/^ *Version *//p' | head -1)"
echo "- ffmpeg: $(ffmpeg -version | sed -n 's/^ffmpeg version \([^ ]*\).*/\1/p')"
echo "- link: veth into a network namespace, tc tbf on both ends, no added delay or loss"
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
  local codec=$1 clip=$2 out=$3 line addr="" sfd spid
  local source=(--source "$clip") extra=() y4m=(--y4m "$out.y4m")
  [[ $codec == h264 ]] && extra=(--bitrate "$KBPS")
  if ((PATTERN)); then
    local size=${clip##*-}; size=${size%.y4m}
    source=(--source test --width "${size%x*}" --height "${size#*x}"); y4m=()
  fi
  exec {sfd}< <(exec timeout "$LIMIT" ip netns exec "$NS" "$BIN/sender" --bind "$FAR_IP:0" --open \
                  "${source[@]}" --fps "$FPS" --codec "$codec" "${extra[@]}" --frames "$FRAMES" 2>"$out.sender.err")
  spid=$!; PIDS=("$spid")
  while [[ -z $addr ]] && IFS= read -r -t 30 line <&"$sfd"; do
    if [[ $line =~ ^listening\ on\ ([0-9.]+:[0-9]+)$ ]]; then addr=${BASH_REMATCH[1]}; fi
  done
  [[ -n $addr ]] || { cat "$out.sender.err" >&2; die "camwire sender ($codec) never said 'listening on'"; }
  timeout "$LIMIT" "$BIN/receiver" --connect "$addr" --headless --json --frames "$FRAMES" \
    --frame-log "$out.csv" "${y4m[@]}" >"$out.json" 2>"$out.err" &
  PIDS+=($!)
  wait $! || { cat "$out.err" >&2; die "camwire receiver ($codec) failed"; }
  wait "$spid" || { cat "$out.sender.err" >&2; die "camwire sender ($codec) failed"; }
  exec {sfd}<&-
  PIDS=()
}

# gst_run CLIP OUT: the same through GStreamer; leaves the stamp logs OUT.tx
# (frames as they leave the real-time pacing) and OUT.rx (as they arrive and
# are decoded), and OUT.y4m.
gst_run() {
  local clip=$1 out=$2 spid rpid i
  # identity sync=true releases each frame at its time, as a camera would;
  # the sink does not sync again, or it would wait with encoded frames.
  # No h264parse before gdppay: its bitrate tags change every few frames,
  # each change makes gdppay send new stream headers, tcpserversink resends
  # them, and avdec_h264 restarts on them and loses its reference frames
  # (every picture after the first tag is broken). x264 in byte-stream form
  # already repeats SPS and PPS before each keyframe, as config-interval=-1
  # would.
  timeout "$LIMIT" ip netns exec "$NS" python3 "$STATS" stamp "$out.tx" -- \
    gst-launch-1.0 -v filesrc location="$clip" ! y4mdec \
    ! identity name=cap sync=true silent=false ts-offset="$GST_HOLD_NS" eos-after=$((FRAMES + 1)) \
    ! x264enc tune=zerolatency speed-preset=ultrafast bitrate="$KBPS" ! video/x-h264,stream-format=byte-stream \
    ! gdppay ! tcpserversink host="$FAR_IP" port="$GST_PORT" sync=false >"$out.tx.err" 2>&1 &
  spid=$!; PIDS=("$spid")
  for ((i = 0; i < 500; i++)); do
    ip netns exec "$NS" ss -Hltn "sport = :$GST_PORT" | grep -q . && break
    sleep 0.02
  done
  ((i < 500)) || { cat "$out.tx.err" >&2; die "GStreamer sender never listened"; }
  timeout "$LIMIT" python3 "$STATS" stamp "$out.rx" -- \
    gst-launch-1.0 -v tcpclientsrc host="$FAR_IP" port="$GST_PORT" ! gdpdepay ! h264parse \
    ! identity name=wire silent=false ! avdec_h264 direct-rendering=false ! identity name=dec silent=false \
    ! y4menc ! filesink location="$out.y4m" >"$out.rx.err" 2>&1 &
  # direct-rendering=false: the decoder's own padded pictures would reach
  # y4menc as they are, and the file would not be plain I420.
  rpid=$!; PIDS+=("$rpid")
  wait "$spid" || { cat "$out.tx.err" >&2; die "GStreamer sender failed"; }
  # Its sink drops what it still queues when the sender stops; what the
  # kernel holds still arrives, and the receiver ends when it has.
  for ((i = 0; i < GRACE * 10; i++)); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
  kill -INT "$rpid" 2>/dev/null || true
  wait "$rpid" || true
  PIDS=()
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
