# shellcheck shell=bash
# Sourced by bench/link.sh and bench/steps.sh, from the repo root, as root:
# a network namespace joined to this one by a veth pair shaped with
# `tc tbf`, the tools that stream through it, and the camwire and GStreamer
# senders and receivers on either side of it. Nothing here runs on its own.
#
# The sourcing script sets LIMIT (seconds no process of a run may exceed)
# before it starts any, and may set BENCH_KEEP=1 to keep $TMP.

die() { echo "bench: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root, to make a network namespace and shape it with tc"

# shellcheck disable=SC2034 # FPS, BIN and NEAR_IP are for the scripts that source this
FPS=30
BIN=target/release
STATS=bench/link_stats.py
GST_PORT=5600
# GStreamer's sender holds its first frame back this long, so that the
# receiver is connected before it: a late receiver would wait for the next
# keyframe, seconds away. Frame age is measured from the held-back time.
GST_HOLD_NS=1000000000

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

# ---- tools ---------------------------------------------------------------------
GST_ELEMENTS="filesrc y4mdec identity x264enc h264parse gdppay tcpserversink tcpclientsrc gdpdepay avdec_h264 y4menc filesink fakesink"
# x264enc is in plugins-ugly and avdec_h264 in libav, which a GStreamer
# install often lacks.
GST_PKGS="iproute2 ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"
missing_tools() {
  local t e
  for t in ip tc ss gst-launch-1.0 gst-inspect-1.0 ffmpeg; do command -v "$t" >/dev/null || echo "$t"; done
  if command -v gst-inspect-1.0 >/dev/null; then
    for e in $GST_ELEMENTS; do gst-inspect-1.0 --exists "$e" || echo "$e"; done
  fi
}
# apt_install PKG...: quietly, with the last lines of apt's log on failure.
apt_install() {
  # shellcheck disable=SC2068 # one word per package, given unquoted on purpose
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $@; } >"$TMP/apt.log" 2>&1 \
    || { tail -5 "$TMP/apt.log" >&2; die "install failed"; }
}
# need_tools: everything link.sh and steps.sh run, installed when
# BENCH_INSTALL=1, or one line saying what is missing.
need_tools() {
  local missing
  missing=$(missing_tools | xargs)
  if [[ -n $missing && ${BENCH_INSTALL:-0} == 1 ]]; then
    echo "missing: $missing; installing" >&2
    # shellcheck disable=SC2086 # one word per package
    apt_install $GST_PKGS
    missing=$(missing_tools | xargs)
  fi
  [[ -z $missing ]] || die "missing: $missing (BENCH_INSTALL=1 installs them; x264enc: gstreamer1.0-plugins-ugly, avdec_h264: gstreamer1.0-libav)"
}

# ---- the link -----------------------------------------------------------------
link_up() {
  ip netns add "$NS"
  ip link add "$NEAR" type veth peer name "$FAR"
  ip link set "$FAR" netns "$NS"
  ip addr add "$NEAR_IP/30" dev "$NEAR"
  ip link set "$NEAR" up
  ip netns exec "$NS" ip addr add "$FAR_IP/30" dev "$FAR"
  ip netns exec "$NS" ip link set "$FAR" up
  ip netns exec "$NS" ip link set lo up
}

# shape RATE [change]: both ends at RATE Mbit/s (0.5 and 1.5 too), or no
# qdisc at all when unshaped; `change` alters the qdisc in place while a
# stream runs through it. The bucket holds 20 ms at the rate (at least
# 16 KiB, about ten full packets); a queue of 50 ms on top, as
# tests/slow_link.rs has, lets TCP see a full link as loss rather than as an
# ever longer queue.
shape() {
  local rate=$1 verb=${2:-replace} kbit burst
  if [[ $rate == unshaped ]]; then
    tc qdisc del dev "$NEAR" root 2>/dev/null || true
    ip netns exec "$NS" tc qdisc del dev "$FAR" root 2>/dev/null || true
    return
  fi
  kbit=$(awk -v r="$rate" 'BEGIN { printf "%d", r * 1000 }')
  burst=$((kbit * 1000 / 8 / 50))
  ((burst >= 16384)) || burst=16384
  # The far end first: it carries the video out of the namespace.
  ip netns exec "$NS" tc qdisc "$verb" dev "$FAR" root tbf rate "${kbit}kbit" burst "$burst" latency 50ms
  tc qdisc "$verb" dev "$NEAR" root tbf rate "${kbit}kbit" burst "$burst" latency 50ms
}

# ---- machine facts -------------------------------------------------------------
machine_facts() {
  echo "- date: $(date -Iseconds)"
  echo "- host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "- kernel: $(uname -sr)"
  echo "- camwire: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "- gstreamer: $(gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1), x264enc $(gst-inspect-1.0 x264enc | sed -n 's/^ *Version *//p' | head -1)"
  echo "- ffmpeg: $(ffmpeg -version | sed -n 's/^ffmpeg version \([^ ]*\).*/\1/p')"
  echo "- link: veth into a network namespace, tc tbf on both ends, no added delay or loss"
}

# ---- senders and receivers -----------------------------------------------------
# camwire_sender OUT WHAT SENDER-ARGS...: `sender --bind $FAR_IP:0 --open
# SENDER-ARGS...` inside the namespace, its errors in OUT.sender.err. Sets
# ADDR to where it listens, SENDER_PID, and SENDER_FD (its standard output,
# for the caller to close when the sender has ended); WHAT names it in errors.
camwire_sender() {
  local out=$1 what=$2 line
  shift 2
  ADDR=""
  # Nothing announced on the LAN, not even over the benchmark's own veth
  # (a camwire from before discovery has no such flag).
  local quiet=()
  [[ $("$BIN/sender" --help) == *--no-announce* ]] && quiet=(--no-announce)
  # BENCH_VERBOSE=1: the sender says what it does (bitrate, layers), each
  # line stamped with the time it came, in $out.sender.err.
  if [[ ${BENCH_VERBOSE:-0} == 1 ]]; then
    quiet+=(--verbose)
    exec {SENDER_FD}< <(exec timeout "$LIMIT" ip netns exec "$NS" "$BIN/sender" --bind "$FAR_IP:0" --open \
                          "${quiet[@]}" "$@" 2> >(while IFS= read -r l; do echo "$(date +%s.%3N) $l"; done >"$out.sender.err"))
  else
    exec {SENDER_FD}< <(exec timeout "$LIMIT" ip netns exec "$NS" "$BIN/sender" --bind "$FAR_IP:0" --open \
                          "${quiet[@]}" "$@" 2>"$out.sender.err")
  fi
  SENDER_PID=$!; PIDS+=("$SENDER_PID")
  while [[ -z $ADDR ]] && IFS= read -r -t 30 line <&"$SENDER_FD"; do
    if [[ $line =~ ^listening\ on\ ([0-9.]+:[0-9]+)$ ]]; then ADDR=${BASH_REMATCH[1]}; fi
  done
  [[ -n $ADDR ]] || { cat "$out.sender.err" >&2; die "camwire sender ($what) never said 'listening on'"; }
}

# camwire_receiver WHERE OUT RECEIVER-ARGS...: a headless receiver of ADDR,
# here (WHERE=host) or inside the namespace (WHERE=ns), with its --json line
# in OUT.json, its frame log in OUT.csv and its errors in OUT.err. Sets
# RECEIVER_PID.
camwire_receiver() {
  local where=$1 out=$2 run=()
  shift 2
  [[ $where == ns ]] && run=(ip netns exec "$NS")
  timeout "$LIMIT" "${run[@]}" "$BIN/receiver" --connect "$ADDR" --headless --json \
    --frame-log "$out.csv" "$@" >"$out.json" 2>"$out.err" &
  RECEIVER_PID=$!; PIDS+=("$RECEIVER_PID")
}

# gst_sender OUT CLIP FRAMES: GStreamer in the namespace streams FRAMES
# frames of CLIP (a y4m file, or a FIFO that a looping ffmpeg feeds) on
# $FAR_IP:$GST_PORT; leaves the stamp log OUT.tx (frames as they leave the
# real-time pacing) and its output in OUT.tx.err. Returns once it listens;
# sets SENDER_PID.
gst_sender() {
  local out=$1 clip=$2 frames=$3 i
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
    ! identity name=cap sync=true silent=false ts-offset="$GST_HOLD_NS" eos-after=$((frames + 1)) \
    ! x264enc tune=zerolatency speed-preset=ultrafast bitrate="$KBPS" ! video/x-h264,stream-format=byte-stream \
    ! gdppay ! tcpserversink host="$FAR_IP" port="$GST_PORT" sync=false >"$out.tx.err" 2>&1 &
  SENDER_PID=$!; PIDS+=("$SENDER_PID")
  for ((i = 0; i < 500; i++)); do
    ip netns exec "$NS" ss -Hltn "sport = :$GST_PORT" | grep -q . && break
    sleep 0.02
  done
  ((i < 500)) || { cat "$out.tx.err" >&2; die "GStreamer sender never listened"; }
}

# gst_receiver WHERE OUT [Y4M]: GStreamer decodes the stream of gst_sender,
# here (WHERE=host) or inside the namespace (WHERE=ns), writing the pictures
# to Y4M when given; leaves the stamp log OUT.rx (buffers as they arrive and
# as they are decoded). Sets RECEIVER_PID.
gst_receiver() {
  local where=$1 out=$2 y4m=${3:-} run=() sink=(fakesink sync=false)
  [[ $where == ns ]] && run=(ip netns exec "$NS")
  [[ -n $y4m ]] && sink=(y4menc ! filesink location="$y4m")
  # direct-rendering=false: the decoder's own padded pictures would reach
  # y4menc as they are, and the file would not be plain I420.
  timeout "$LIMIT" "${run[@]}" python3 "$STATS" stamp "$out.rx" -- \
    gst-launch-1.0 -v tcpclientsrc host="$FAR_IP" port="$GST_PORT" ! gdpdepay ! h264parse \
    ! identity name=wire silent=false ! avdec_h264 direct-rendering=false ! identity name=dec silent=false \
    ! "${sink[@]}" >"$out.rx.err" 2>&1 &
  RECEIVER_PID=$!; PIDS+=("$RECEIVER_PID")
}

# gst_finish OUT GRACE RECEIVER-PID...: once the GStreamer sender of OUT
# has ended, gives what the kernel still holds GRACE seconds to arrive,
# then stops the receivers. Its sink drops what it still queues when the
# sender stops.
gst_finish() {
  local out=$1 grace=$2 i p
  shift 2
  wait "$SENDER_PID" || { cat "$out.tx.err" >&2; die "GStreamer sender failed"; }
  for ((i = 0; i < grace * 10; i++)); do
    any_alive "$@" || break
    sleep 0.1
  done
  for p in "$@"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" || true; done
  PIDS=()
}
any_alive() {
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}
