#!/usr/bin/env bash
# Does the picture follow the link (issue 13)? Through the shaped veth link
# of bench/link.sh, the 1280x720 Big Buck Bunny clip at 30 fps, camwire H.264
# (--bitrate 2000) and GStreamer (x264enc at a fixed 2000 kbit/s) taking
# turns:
#   steps        the link's rate changes under a running stream, STEP s at
#                each rate: 20 -> 1.5 -> 20 Mbit/s, then 3 -> 0.5 -> 3; the
#                changes are `tc qdisc change` on both ends, STEP and 2*STEP
#                seconds after the receiver shows its first frame
#   two-viewers  one sender, two viewers at once: A inside the namespace
#                (over the namespace's own address, so unshaped), B outside
#                through the veth at 1 Mbit/s; GStreamer's tcpserversink
#                with the same two clients as the anchor
# Both clips loop: camwire's --source plays its clip in a loop, and an
# ffmpeg -stream_loop feeds GStreamer the same frames, frame k of the stream
# being clip frame k mod 600 for both.
#
# Usage (as root, from the repo root):  bench/steps.sh
#   BENCH_STEP=12            seconds at each rate (each run lasts 3 of them);
#                            BENCH_STEP=4 checks the script in a few minutes
#   BENCH_ONLY=steps         or two-viewers: one scenario only
#   BENCH_PROFILES="3 0.5 3" the step profiles run, Mbit/s, comma-separated
#                            (default "20 1.5 20,3 0.5 3")
#   BENCH_BITRATE=2000       H.264 target of both tools, kbit/s
#   BENCH_INSTALL=1          apt-get install GStreamer, ffmpeg, iproute2, matplotlib if missing
#   BENCH_KEEP=1             keep the logs and frame logs
#   BENCH_VERBOSE=1          the camwire sender says what it does, in its kept log
# Prints a per-second table and a summary against the targets (PASS/MISS) for
# each scenario, writes target/bench/steps-DATE.json, and draws
# bench/steps.png and bench/two-viewers.png.
set -euo pipefail

cd "$(dirname "$0")/.."
STEP=${BENCH_STEP:-12}
KBPS=${BENCH_BITRATE:-2000}
ONLY=${BENCH_ONLY:-all}
# shellcheck source=bench/netlink.sh
source bench/netlink.sh
[[ $STEP =~ ^[1-9][0-9]*$ ]] || die "BENCH_STEP must be whole seconds"
[[ $KBPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_BITRATE must be kbit/s, a positive number"
[[ $ONLY =~ ^(all|steps|two-viewers)$ ]] || die "BENCH_ONLY must be steps or two-viewers"
export BENCH_BITRATE=$KBPS   # for steps_stats.py's targets

IFS=, read -r -a PROFILES <<<"${BENCH_PROFILES:-20 1.5 20,3 0.5 3}"
for profile in "${PROFILES[@]}"; do
  [[ $profile =~ ^[0-9.]+( [0-9.]+)+$ ]] || die "BENCH_PROFILES: \"$profile\" is not rates in Mbit/s, space-separated"
done
SLOW_VIEWER_MBIT=1
RUN_SECS=$((3 * STEP))
# A second more is sent than is counted: the first frame is shown a little
# after it was made, so a stream of exactly RUN_SECS would leave the last
# counted second short of frames.
FRAMES=$(((RUN_SECS + 1) * FPS))
CLIP=target/clips/bbb-1280x720.y4m
GRACE=3               # seconds what is on its way after a sender's end may take to count
LIMIT=$((RUN_SECS + 60))   # no process of a run takes this long unless something hangs
STEPS_STATS=bench/steps_stats.py

# ---- setup -------------------------------------------------------------------
need_tools
# The plots need matplotlib, which Debian's python3-matplotlib gives its own
# python3 (/usr/bin), not a python3 earlier on PATH.
plot_python() {
  local py
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null && "$py" -c 'import matplotlib' 2>/dev/null && { echo "$py"; return; }
  done
  # None: an empty answer, not a failure (under set -e a failing
  # $(plot_python) would end the script without a word).
  return 0
}
PLOT_PY=$(plot_python)
if [[ -z $PLOT_PY && ${BENCH_INSTALL:-0} == 1 ]]; then
  echo "missing: matplotlib; installing python3-matplotlib" >&2
  apt_install python3-matplotlib
  PLOT_PY=$(plot_python)
fi
[[ -n $PLOT_PY ]] || die "missing: matplotlib for the plots (BENCH_INSTALL=1 installs python3-matplotlib)"

cargo build --release --quiet --bins
grep -q -- '--frame-log' <<<"$("$BIN/receiver" --help)" || die "this receiver has no --frame-log"
[[ -s $CLIP ]] || bench/clip.sh 1280x720 >/dev/null

link_up

echo "# camwire's rate control through changing links, against GStreamer"
echo
machine_facts
echo "- each run: ${RUN_SECS} s counted (a second more sent) of Big Buck Bunny 1280x720 at $FPS fps, looped; H.264 at $KBPS kbit/s,"
echo "  x264 ultrafast/zerolatency for GStreamer; $STEP s at each rate"

# ---- pieces of a run -----------------------------------------------------------
RUNS=$TMP/runs.txt   # a line per receiver, for steps_stats.py
: >"$RUNS"

# first_frame FILE MIN_LINES WHAT PID...: waits until FILE has MIN_LINES
# lines that are whole (the first frame shown), as long as any PID lives.
first_frame() {
  local file=$1 lines=$2 what=$3 i
  shift 3
  for ((i = 0; i < 3000; i++)); do
    [[ -f $file && $(grep -c '' "$file") -ge $lines ]] && return
    any_alive "$@" || break
    sleep 0.01
  done
  die "$what showed no frame (see $file and the logs beside it; BENCH_KEEP=1 keeps them)"
}
first_gst_frame() {
  local file=$1 what=$2 i
  shift 2
  for ((i = 0; i < 3000; i++)); do
    grep -q ' dec ' "$file" 2>/dev/null && return
    any_alive "$@" || break
    sleep 0.01
  done
  die "$what showed no frame (see $file; BENCH_KEEP=1 keeps it)"
}

# pause SECONDS: a sleep a trapped Ctrl-C interrupts at once.
pause() { sleep "$1" & wait $!; }

# steps_from NOW OUT RATE...: the link is at the first RATE; changes it to
# each next one STEP seconds after the last, counted from NOW (a Unix time),
# writing each rate and when it took effect to OUT.link.
steps_from() {
  local start=$1 out=$2 rate i=0 wait_s
  shift 2
  echo "$start $1" >"$out.link"
  shift
  for rate in "$@"; do
    i=$((i + 1))
    wait_s=$(awk -v t="$start" -v i="$i" -v s="$STEP" -v now="$EPOCHREALTIME" 'BEGIN { d = t + i * s - now; printf "%.3f", (d > 0 ? d : 0) }')
    pause "$wait_s"
    shape "$rate" change
    echo "$EPOCHREALTIME $rate" >>"$out.link"
  done
}

# loop_clip FIFO: ffmpeg plays the clip in a loop into FIFO, for GStreamer,
# until GStreamer stops reading. Sets LOOP_PID.
loop_clip() {
  rm -f "$1"; mkfifo "$1"
  ffmpeg -v error -stream_loop -1 -i "$CLIP" -frames:v $((FRAMES + 5 * FPS)) -pix_fmt yuv420p \
    -f yuv4mpegpipe -y "$1" 2>"$1.err" &
  LOOP_PID=$!; PIDS+=("$LOOP_PID")
}
stop_loop() { kill "$LOOP_PID" 2>/dev/null || true; wait "$LOOP_PID" 2>/dev/null || true; }

# ---- the runs ------------------------------------------------------------------
# step_camwire OUT RATE...: camwire through a link that takes each RATE in turn.
step_camwire() {
  local out=$1 rpid
  shift
  shape "$1"
  camwire_sender "$out" h264 --source "$CLIP" --fps "$FPS" --codec h264 --bitrate "$KBPS" --frames "$FRAMES"
  camwire_receiver host "$out"
  rpid=$RECEIVER_PID
  first_frame "$out.csv" 2 "camwire's receiver" "$rpid"
  steps_from "$EPOCHREALTIME" "$out" "$@"
  wait "$rpid" || { cat "$out.err" >&2; die "camwire receiver failed"; }
  wait "$SENDER_PID" || { cat "$out.sender.err" >&2; die "camwire sender failed"; }
  exec {SENDER_FD}<&-
  PIDS=()
}

# step_gst OUT RATE...: the same through GStreamer.
step_gst() {
  local out=$1
  shift
  shape "$1"
  loop_clip "$out.fifo"
  gst_sender "$out" "$out.fifo" "$FRAMES"
  gst_receiver host "$out"
  first_gst_frame "$out.rx" "GStreamer's receiver" "$RECEIVER_PID"
  steps_from "$EPOCHREALTIME" "$out" "$@"
  gst_finish "$out" "$GRACE" "$RECEIVER_PID"
  stop_loop
}

# two_camwire OUT: one sender, viewer A in the namespace, viewer B here.
two_camwire() {
  local out=$1 apid bpid
  shape "$SLOW_VIEWER_MBIT"
  camwire_sender "$out" h264 --source "$CLIP" --fps "$FPS" --codec h264 --bitrate "$KBPS" --frames "$FRAMES"
  camwire_receiver ns "$out-a"; apid=$RECEIVER_PID
  camwire_receiver host "$out-b"; bpid=$RECEIVER_PID
  first_frame "$out-a.csv" 2 "camwire's viewer A" "$apid"
  echo "$EPOCHREALTIME unshaped" >"$out-a.link"
  echo "$EPOCHREALTIME $SLOW_VIEWER_MBIT" >"$out-b.link"
  wait "$apid" || { cat "$out-a.err" >&2; die "camwire viewer A failed"; }
  wait "$bpid" || { cat "$out-b.err" >&2; die "camwire viewer B failed"; }
  wait "$SENDER_PID" || { cat "$out.sender.err" >&2; die "camwire sender failed"; }
  exec {SENDER_FD}<&-
  PIDS=()
}

# two_gst OUT: the same with tcpserversink serving both.
two_gst() {
  local out=$1 apid bpid
  shape "$SLOW_VIEWER_MBIT"
  loop_clip "$out.fifo"
  gst_sender "$out" "$out.fifo" "$FRAMES"
  gst_receiver ns "$out-a"; apid=$RECEIVER_PID
  gst_receiver host "$out-b"; bpid=$RECEIVER_PID
  first_gst_frame "$out-a.rx" "GStreamer's viewer A" "$apid"
  echo "$EPOCHREALTIME unshaped" >"$out-a.link"
  echo "$EPOCHREALTIME $SLOW_VIEWER_MBIT" >"$out-b.link"
  # Each stamp log is matched with the sender's.
  gst_finish "$out" "$GRACE" "$apid" "$bpid"
  stop_loop
  ln -sf "$out.tx" "$out-a.tx"
  ln -sf "$out.tx" "$out-b.tx"
}

mkdir -p target/bench
JSON=target/bench/steps-$(date +%Y%m%d-%H%M%S).json
turn=0
if [[ $ONLY != two-viewers ]]; then
  for profile in "${PROFILES[@]}"; do
    read -r -a rates <<<"$profile"
    name=steps-${profile// /-}
    # Each tool goes first in turn, so none always meets a fresh machine.
    tools=(camwire gstreamer)
    ((turn % 2)) && tools=(gstreamer camwire)
    for tool in "${tools[@]}"; do
      out=$TMP/$name-$tool
      echo "running: $tool, ${profile// / -> } Mbit/s, ${RUN_SECS} s..." >&2
      if [[ $tool == camwire ]]; then step_camwire "$out" "${rates[@]}"; else step_gst "$out" "${rates[@]}"; fi
      echo "$name $tool - $RUN_SECS $out" >>"$RUNS"
    done
    turn=$((turn + 1))
  done
fi
if [[ $ONLY != steps ]]; then
  tools=(camwire gstreamer)
  ((turn % 2)) && tools=(gstreamer camwire)
  for tool in "${tools[@]}"; do
    out=$TMP/two-$tool
    echo "running: $tool, two viewers (unshaped and ${SLOW_VIEWER_MBIT} Mbit/s), ${RUN_SECS} s..." >&2
    if [[ $tool == camwire ]]; then two_camwire "$out"; else two_gst "$out"; fi
    echo "two-viewers $tool A $RUN_SECS $out-a" >>"$RUNS"
    echo "two-viewers $tool B $RUN_SECS $out-b" >>"$RUNS"
  done
fi

# ---- report --------------------------------------------------------------------
"$PLOT_PY" "$STEPS_STATS" report "$RUNS" "$JSON"
"$PLOT_PY" "$STEPS_STATS" plot "$JSON" bench
cat <<EOF

Seconds count from each receiver's first frame shown; the link's changes
land within a few hundredths of a second after the scheduled second (its
table row is the rate in force for most of that second). fps: frames shown
in that second; frame age: decode end minus capture on this machine's one
clock (GStreamer's from timestamps matched across its two pipelines, as in
bench/link.sh); kbit/s: message bodies that arrived in that second (camwire:
the frame log's bytes column; GStreamer: buffers out of h264parse). A
GStreamer sender's queued frames that had not arrived ${GRACE} s after it ended
are never shown. Per-second series: $JSON
EOF
