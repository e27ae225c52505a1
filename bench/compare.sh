#!/usr/bin/env bash
# Did a change make camwire faster or slower? Builds another revision beside
# this checkout and streams the same test pattern with each build in turn,
# over 127.0.0.1, so that the machine's drift weighs on both alike.
#
# Usage (from the repo root):  bench/compare.sh REV [CODEC] [WxH] [FRAMES] [ROUNDS]
#   REV      the revision to compare against, e.g. main~3 or a commit
#   CODEC    raw or jpeg (default jpeg); WxH default 1280x720
#   FRAMES   frames a round (default 1500); ROUNDS pairs of rounds (default 5)
set -euo pipefail

cd "$(dirname "$0")/.."
REV=${1:?usage: bench/compare.sh REV [CODEC] [WxH] [FRAMES] [ROUNDS]}
CODEC=${2:-jpeg}
SIZE=${3:-1280x720}
FRAMES=${4:-1500}
ROUNDS=${5:-5}
W=${SIZE%x*}
H=${SIZE#*x}

TMP=$(mktemp -d)
OTHER="$TMP/other"
cleanup() {
  pkill -f "$TMP/" 2>/dev/null || true
  git worktree remove --force "$OTHER" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

cargo build --release --quiet
git worktree add --quiet --detach "$OTHER" "$REV"
# The dependencies are the same build: start from this checkout's.
mkdir -p "$OTHER/target" && cp -a target/release "$OTHER/target/"
(cd "$OTHER" && cargo build --release --quiet)

# round DIR: one sender and one headless receiver of DIR's build; prints fps.
round() {
  local bin=$1/target/release log="$TMP/sender.log"
  "$bin/sender" --bind 127.0.0.1:0 --open --source test --codec "$CODEC" \
    --width "$W" --height "$H" --fps 0 >"$log" 2>&1 &
  local sender=$! addr=""
  for _ in $(seq 200); do
    addr=$(sed -n 's/^listening on //p' "$log")
    [[ -n $addr ]] && break
    sleep 0.05
  done
  [[ -n $addr ]] || { cat "$log" >&2; echo "compare: the sender never listened" >&2; exit 1; }
  "$bin/receiver" --connect "$addr" --headless --frames "$FRAMES" --json |
    python3 -c 'import json, sys; print("%.1f" % json.load(sys.stdin)["fps"])'
  kill "$sender" 2>/dev/null || true
  wait "$sender" 2>/dev/null || true
}

echo "$CODEC $SIZE unpaced, $FRAMES frames a round; fps of $REV against this checkout"
others=() ours=()
for i in $(seq "$ROUNDS"); do
  # Take turns to go first, so neither build always runs on a fresh machine.
  if ((i % 2)); then a=$(round "$OTHER"); b=$(round .); else b=$(round .); a=$(round "$OTHER"); fi
  others+=("$a") ours+=("$b")
  echo "round $i: $REV $a  this $b"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "median: $REV $(median "${others[@]}")  this $(median "${ours[@]}")"
