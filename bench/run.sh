#!/usr/bin/env bash
# camwire benchmark: throughput, latency and receiver memory for raw and JPEG
# streams at three sizes, over 127.0.0.1 only, next to the same transfer done
# with GStreamer (gdppay over tcpclientsink) when gst-launch-1.0 is available.
#
# Usage (from the repo root):  bench/run.sh [private]
#   private           only the private-against-open comparison
#   BENCH_SCALE=0.5   scale every frame count (default 1)
#   BENCH_ROUNDS=9    rounds of that comparison (default 6), private and open
#                     alternating so that the host's ups and downs hit both
#   BENCH_INSTALL=1   as root: apt-get install GStreamer / `time` if missing
#   CAMWIRE_CODE=...  private-mode code used by both sides (a default is set)
set -euo pipefail

cd "$(dirname "$0")/.."
ONLY=${1:-all}
[[ $ONLY == all || $ONLY == private ]] || { echo "usage: bench/run.sh [private]" >&2; exit 2; }
ROUNDS=${BENCH_ROUNDS:-6}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROUNDS must be a positive number" >&2; exit 2; }
BIN=target/release
SCALE=${BENCH_SCALE:-1}
CODE=${CAMWIRE_CODE:-camwire-bench}   # the private-mode rows use this code on both ends
unset CAMWIRE_CODE
SIZES=(640x480 1280x720 1920x1080)
declare -A FRAMES=([raw]="5000 2000 800" [jpeg]="4000 1500 800")   # per size: ~2-3 s of camwire each

TMP=$(mktemp -d)
PIDS=()   # processes of the run in progress, killed on exit
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench: $*" >&2; exit 1; }
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { n = int(n * s); print (n < 1 ? 1 : n) }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Wait (up to 30 s) until something listens on 127.0.0.1:$1, without connecting to it
# (tcpserversrc serves exactly one client, so a probe connection would be that client).
wait_listen() {
  python3 - "$1" <<'EOF'
import sys, time
port = ":%04X" % int(sys.argv[1])
for _ in range(1500):
    for line in open("/proc/net/tcp").readlines()[1:]:
        f = line.split()
        if f[1] == "0100007F" + port and f[3] == "0A":   # 127.0.0.1:port, LISTEN
            sys.exit(0)
    time.sleep(0.02)
sys.exit(1)
EOF
}

# ---- setup -------------------------------------------------------------------
GST_PKGS="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
if [[ ${BENCH_INSTALL:-0} == 1 && $(id -u) == 0 && $ONLY == all ]]; then
  missing=""
  command -v gst-launch-1.0 >/dev/null || missing="$GST_PKGS"
  [[ -x /usr/bin/time ]] || missing="$missing time"
  if [[ -n $missing ]]; then
    echo "installing:$missing" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >"$TMP/apt.log" 2>&1 \
      || { tail -5 "$TMP/apt.log" >&2; echo "bench: install failed, continuing without" >&2; }
  fi
fi
cargo build --release --quiet
TIME=(); [[ -x /usr/bin/time ]] && TIME=(/usr/bin/time -f %M -o "$TMP/rss")
GST=0
if command -v gst-launch-1.0 >/dev/null && command -v gst-inspect-1.0 >/dev/null; then
  GST=1
  for e in tcpserversrc tcpclientsink gdppay gdpdepay videotestsrc imagefreeze jpegenc jpegdec; do
    gst-inspect-1.0 --exists "$e" || GST=0
  done
fi

# ---- machine facts -------------------------------------------------------------
echo "# camwire benchmark"
echo
echo "- date: $(date -Iseconds)"
echo "- host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- kernel: $(uname -sr)"
echo "- camwire: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "- gstreamer: $( ((GST)) && gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1 || echo n/a)"
echo "- frame-count scale: $SCALE; loopback only; other load on the host skews the numbers"
echo

# ---- camwire -------------------------------------------------------------------
# camwire KIND CODEC W H FPS N: one sender, one headless receiver; appends the
# receiver's JSON (plus kind and peak RSS) to $TMP/results.jsonl. Kind
# "private" runs with a code (encrypted); every other kind uses --open.
camwire() {
  local kind=$1 codec=$2 w=$3 h=$4 fps=$5 n=$6 line port spid sfd privacy=(--open) code=""
  [[ $kind == private ]] && { privacy=(); code=$CODE; }
  exec {sfd}< <(CAMWIRE_CODE=$code exec "$BIN/sender" --bind 127.0.0.1:0 "${privacy[@]}" --source test --codec "$codec" \
                  --quality 80 --width "$w" --height "$h" --fps "$fps" 2>"$TMP/sender.err")
  spid=$!; PIDS+=("$spid")
  port=""
  while [[ -z $port ]] && IFS= read -r -t 30 line <&"$sfd"; do
    if [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then port=${BASH_REMATCH[1]}; fi
  done
  [[ -n $port ]] || { cat "$TMP/sender.err" >&2; die "sender ($codec ${w}x$h) never said 'listening on'"; }
  rm -f "$TMP/rss"
  CAMWIRE_CODE=$code timeout 300 "${TIME[@]}" "$BIN/receiver" --connect "127.0.0.1:$port" --headless --frames "$n" --json \
    >"$TMP/rx.out" 2>"$TMP/rx.err" || { cat "$TMP/rx.err" >&2; die "receiver failed ($codec ${w}x$h)"; }
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; exec {sfd}<&-; PIDS=()
  tail -n 1 "$TMP/rx.out" | python3 -c 'import json, sys
r = json.loads(sys.stdin.read()); r["kind"] = sys.argv[1]
rss = open(sys.argv[2]).read().split() if sys.argv[2] else []
r["rss_kib"] = int(rss[-1]) if rss else None
print(json.dumps(r))' "$kind" "$( [[ -s $TMP/rss ]] && echo "$TMP/rss")" >>"$TMP/results.jsonl"
}

# gst CODEC W H N: sets GST_FPS to frames/s for the same transfer through
# GStreamer (sender start until the receiver exits at end of stream), or n/a.
gst() {
  local codec=$1 w=$2 h=$3 n=$4 enc="" dec="" port rpid tpid t0 t1
  [[ $codec == jpeg ]] && { enc="jpegenc quality=80 !"; dec="jpegdec !"; }
  GST_FPS=n/a; port=$(free_port)
  timeout 120 gst-launch-1.0 -q tcpserversrc host=127.0.0.1 port="$port" ! gdpdepay ! $dec fakesink \
    >"$TMP/gst-rx.log" 2>&1 & rpid=$!; PIDS+=("$rpid")
  wait_listen "$port" || { kill "$rpid" 2>/dev/null; wait "$rpid"; PIDS=(); return 0; }
  t0=$EPOCHREALTIME
  # sync=false: tcpclientsink would otherwise pace imagefreeze's output to 25 fps.
  timeout 120 gst-launch-1.0 -q videotestsrc num-buffers=1 ! "video/x-raw,format=RGB,width=$w,height=$h" \
    ! imagefreeze num-buffers="$n" ! $enc gdppay ! tcpclientsink sync=false host=127.0.0.1 port="$port" \
    >"$TMP/gst-tx.log" 2>&1 & tpid=$!; PIDS+=("$tpid")
  if wait "$rpid"; then
    t1=$EPOCHREALTIME
    GST_FPS=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
  fi
  wait "$tpid" || GST_FPS=n/a
  PIDS=()   # all reaped: never kill a recycled pid at exit
}

echo "running (camwire$( ((GST)) && [[ $ONLY == all ]] && echo ' + GStreamer'))..." >&2
if [[ $ONLY == all ]]; then
  for codec in raw jpeg; do
    read -r -a counts <<<"${FRAMES[$codec]}"
    for i in "${!SIZES[@]}"; do
      size=${SIZES[$i]}; w=${size%x*}; h=${size#*x}; n=$(scaled "${counts[$i]}")
      echo "  $size $codec: $n frames" >&2
      camwire unpaced "$codec" "$w" "$h" 0 "$n"
      GST_FPS=n/a; if ((GST)); then gst "$codec" "$w" "$h" "$n"; fi
      echo "{\"kind\":\"gst\",\"codec\":\"$codec\",\"width\":$w,\"height\":$h,\"gst_fps\":\"$GST_FPS\"}" >>"$TMP/results.jsonl"
    done
  done
  for codec in raw jpeg; do
    echo "  1280x720 $codec paced at 30 fps: $(scaled 150) frames" >&2
    camwire paced "$codec" 1280 720 30 "$(scaled 150)"
  done
fi
for codec in raw jpeg; do
  read -r -a counts <<<"${FRAMES[$codec]}"
  n=$(scaled "${counts[1]}")
  echo "  1280x720 $codec private (encrypted) and open, alternating, $ROUNDS rounds of $n frames" >&2
  for ((round = 0; round < ROUNDS; round++)); do
    # Each goes first in every other round, so neither gains from its place.
    if ((round % 2)); then order=(open private); else order=(private open); fi
    for kind in "${order[@]}"; do camwire "$kind" "$codec" 1280 720 0 "$n"; done
  done
done

# ---- report --------------------------------------------------------------------
python3 - "$TMP/results.jsonl" "$GST" "$ROUNDS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rounds = int(sys.argv[3])
unpaced = [r for r in rows if r["kind"] == "unpaced"]
gst = {(r["codec"], r["width"], r["height"]): r["gst_fps"] for r in rows if r["kind"] == "gst"}
f = lambda x, d=1: "n/a" if x is None else f"{x:,.{d}f}"
size = lambda r: f'{r["width"]}x{r["height"]}'
mb = lambda r: None if r["rss_kib"] is None else r["rss_kib"] * 1024 / 1e6
if unpaced:
    print("## Unpaced throughput (`--fps 0`)\n")
    print("| size | codec | camwire fps | MB/s | Mbit/s | bytes/frame | latency p50/p99 ms | receiver peak MB | GStreamer fps | camwire/GStreamer |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in unpaced:
        bps = r["bytes"] / r["seconds"]
        g = gst[(r["codec"], r["width"], r["height"])]
        ratio = "n/a" if g == "n/a" else f'{r["fps"] / float(g):.2f}x'
        g = g if g == "n/a" else f(float(g))
        print(f'| {size(r)} | {r["codec"]} | {f(r["fps"])} | {f(bps / 1e6)} | {f(bps * 8 / 1e6)} '
              f'| {f(r["bytes"] / r["frames"], 0)} | {r["latency_ms_p50"]:.2f} / {r["latency_ms_p99"]:.2f} '
              f'| {f(mb(r))} | {g} | {ratio} |')
    print("\nUnpaced latency includes frames queued in socket buffers. camwire's test pattern is"
          "\nencoded once at start; the GStreamer JPEG pipeline encodes every frame of a different picture.")
    if sys.argv[2] != "1":
        print("\ngstreamer: n/a")
    print("\n## Latency at a paced 30 fps (1280x720)\n")
    print("| codec | frames | fps | latency p50 ms | p99 ms | max ms | dropped | receiver peak MB |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in (r for r in rows if r["kind"] == "paced"):
        print(f'| {r["codec"]} | {r["frames"]} | {f(r["fps"])} | {r["latency_ms_p50"]:.2f} | '
              f'{r["latency_ms_p99"]:.2f} | {r["latency_ms_max"]:.2f} | {r["dropped"]} | {f(mb(r))} |')
print("\n## Private mode (SPAKE2 + AEGIS-128X2) against --open, 1280x720 unpaced\n")
print(f"Median of {rounds} alternating rounds each; the range is the lowest and highest round.\n")
print("| codec | open fps (range) | private fps (range) | cost of the medians |")
print("|---|--:|--:|--:|")
for codec in ("raw", "jpeg"):
    o = sorted(r["fps"] for r in rows if r["kind"] == "open" and r["codec"] == codec)
    p = sorted(r["fps"] for r in rows if r["kind"] == "private" and r["codec"] == codec)
    if o and p:
        cost = 100 * (1 - statistics.median(p) / statistics.median(o))
        print(f'| {codec} | {f(statistics.median(o))} ({f(o[0], 0)}-{f(o[-1], 0)}) '
              f'| {f(statistics.median(p))} ({f(p[0], 0)}-{f(p[-1], 0)}) | {cost:.1f}% |')
if unpaced:
    print("\n## Bandwidth at 30 fps (from measured bytes/frame)\n")
    print("| size | codec | bytes/frame | Mbit/s at 30 fps |")
    print("|---|---|--:|--:|")
    for r in unpaced:
        bpf = r["bytes"] / r["frames"]
        print(f'| {size(r)} | {r["codec"]} | {f(bpf, 0)} | {f(bpf * 30 * 8 / 1e6)} |')
EOF
