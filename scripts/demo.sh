#!/usr/bin/env bash
# Installs what is missing, then streams this machine's camera (or the test
# pattern when there is none) to a receiver window on this same machine.
# Without a display, the window opens on a virtual screen and a screenshot is
# saved. Extra arguments go to the sender (e.g. --codec raw).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --quiet
bin=target/release

source=(--source camera)
if "$bin/sender" --list-cameras | grep -q '^no cameras found'; then
    echo "demo: no camera on this machine, streaming the test pattern instead" >&2
    source=(--source test)
fi

# Both ends share a private code (the sender would otherwise make one up).
export CAMWIRE_CODE=${CAMWIRE_CODE:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
log=$(mktemp)
"$bin/sender" --bind 127.0.0.1:0 "${source[@]}" "$@" >"$log" &
sender=$!
xvfb=""
trap 'kill $sender ${xvfb:+$xvfb} 2>/dev/null; rm -f "$log"' EXIT
until addr=$(grep -o 'listening on .*' "$log" | cut -d' ' -f3) && [[ -n $addr ]]; do
    kill -0 $sender 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
done
cat "$log"

if [[ -n ${DISPLAY:-} ]]; then
    echo "demo: the window shows the stream; q quits" >&2
    exec "$bin/receiver" --connect "$addr"
fi

echo "demo: no display, so the window opens on a virtual screen (Xvfb)" >&2
exec 3< <(Xvfb -displayfd 1 -screen 0 1280x1024x24 -nolisten tcp 2>/dev/null)
xvfb=$!
read -r display <&3
export DISPLAY=":$display"
"$bin/receiver" --connect "$addr" --json &
receiver=$!
window=$(xdotool search --sync --name '^camwire' | head -n1)
sleep 3 # let the picture move a little before the screenshot
import -window "$window" target/demo.png
echo "demo: screenshot of the window: target/demo.png; now pressing q" >&2
xdotool windowfocus --sync "$window" key q
wait $receiver
