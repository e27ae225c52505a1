#!/usr/bin/env python3
"""Helpers for bench/link.sh (Python 3 standard library only).

  stamp LOG -- CMD...       run CMD, write "unix_time element bytes pts_ns"
                            to LOG for each buffer an `identity silent=false`
                            in CMD's `gst-launch-1.0 -v` output reports
  header                    the CSV header line
  camwire RATE SIZE TOOL JSON CSV Y4M CLIP
                            one CSV row (on stdout) from a camwire receiver's
                            --json line, --frame-log and --y4m ("" for none)
  gst RATE SIZE TOOL TX RX Y4M CLIP
                            one CSV row from the stamp logs of a GStreamer
                            sender and receiver and the receiver's y4m
  report CSV                the Markdown table of a run's CSV

Frame age for GStreamer is the receiver's stamp of a decoded buffer minus
the sender's stamp of the buffer with the same timestamp as it left the
real-time pacing (`identity name=cap sync=true`), which stands where a
camera would be. Both clocks are this machine's.
"""

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

FPS = 30
FIELDS = [
    "rate", "size", "tool", "frames", "made", "seconds", "fps", "made_fps",
    "mbit_per_s", "age_p50_ms", "age_p99_ms", "age_max_ms", "age_last_ms",
    "psnr_y_db", "psnr_frames",
]

CHAIN = re.compile(r"GstIdentity:(\w+): last-message = chain .*?\((\d+) bytes, .*?pts: ([0-9:.]+|none)")


def pts_ns(text):
    if text == "none":
        return None
    h, m, s = text.split(":")
    whole, frac = s.split(".")
    return ((int(h) * 60 + int(m)) * 60 + int(whole)) * 10**9 + int(frac.ljust(9, "0")[:9])


def stamp(log, cmd):
    """Runs cmd and stamps each buffer line of its output as it arrives."""
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    # The script stops a receiver with SIGINT or SIGTERM to this process;
    # the pipeline must hear it too, and this process must keep reading.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    # A line at a time, so that a script can wait for the first frame.
    with open(log, "w", buffering=1) as out:
        for line in child.stdout:
            now = time.time()
            m = CHAIN.search(line)
            if m:
                out.write(f"{now:.6f} {m.group(1)} {m.group(2)} {pts_ns(m.group(3))}\n")
    return child.wait()


def read_stamps(path, element):
    rows = []
    with open(path) as f:
        for line in f:
            t, name, size, pts = line.split()
            if name == element and pts != "None":
                rows.append((float(t), int(size), int(pts)))
    return rows


def frame_index(pts):
    # x264enc moves timestamps 1000 hours on; a run is far shorter than an hour.
    return round(pts * FPS / 1e9) % (FPS * 3600)


def quantile(values, q):
    """Nearest-rank on the sorted values, as tests/slow_link.rs takes it."""
    v = sorted(values)
    return v[round((len(v) - 1) * q)] if v else None


class Y4m:
    """A YUV4MPEG2 I420 file read a frame at a time; only Y is kept."""

    def __init__(self, path):
        self.file = open(path, "rb")
        header = self.file.readline().split()
        if not header or header[0] != b"YUV4MPEG2":
            raise SystemExit(f"{path}: not a y4m file")
        tags = {t[:1]: t[1:] for t in header[1:]}
        self.width, self.height = int(tags[b"W"]), int(tags[b"H"])
        if not tags.get(b"C", b"420").startswith(b"420"):
            raise SystemExit(f"{path}: only 4:2:0 y4m is read, not C{tags[b'C'].decode()}")
        self.luma = self.width * self.height
        self.frame_bytes = self.luma * 3 // 2
        self.start = self.file.tell()

    def frames(self):
        """Yields (FRAME parameters, Y plane) until the end or a cut frame."""
        while True:
            line = self.file.readline()
            if not line:
                return
            if not line.startswith(b"FRAME"):
                raise SystemExit(f"{self.file.name}: a frame is not {self.frame_bytes} bytes (padded planes?)")
            data = self.file.read(self.frame_bytes)
            if len(data) < self.frame_bytes:
                return
            params = {p[:1]: p[1:] for p in line.split()[1:]}
            yield params, memoryview(data)[: self.luma]

    def offsets(self):
        """Where each frame's pixels start, found without reading them."""
        found, pos = [], self.start
        self.file.seek(pos)
        while True:
            line = self.file.readline()
            if not line.startswith(b"FRAME"):
                break
            pos += len(line)
            found.append(pos)
            pos += self.frame_bytes
            self.file.seek(pos)
        self.file.seek(self.start)
        return found


def psnr_y(decoded, clip, seqs):
    """Mean-MSE PSNR of Y between each decoded frame and clip frame seq mod
    its length, through ffmpeg's psnr filter: exact, over every pixel.

    seqs is None to take each frame's Xseq parameter (camwire), or a list
    of clip indices for the decoded frames in order (GStreamer). Returns
    (dB, frames compared)."""
    out, ref = Y4m(decoded), Y4m(clip)
    if (out.width, out.height) != (ref.width, ref.height):
        raise SystemExit(f"{decoded} is {out.width}x{out.height}, the clip {ref.width}x{ref.height}")
    w, h = out.width, out.height
    where = ref.offsets()
    stats = decoded + ".psnr"
    # One grey picture of twice the height, decoded Y above the clip's,
    # cut apart again inside ffmpeg: one pipe, and no format conversion
    # can touch the pixels on the way in.
    graph = f"split[a][b];[a]crop={w}:{h}:0:0[o];[b]crop={w}:{h}:0:{h}[r];[o][r]psnr=stats_file={stats}"
    ffmpeg = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-f", "yuv4mpegpipe", "-i", "pipe:0", "-lavfi", graph, "-f", "null", "-"],
        stdin=subprocess.PIPE)
    ffmpeg.stdin.write(b"YUV4MPEG2 W%d H%d F30:1 Ip A1:1 Cmono\n" % (w, 2 * h))
    n = 0
    for i, (params, y) in enumerate(out.frames()):
        if seqs is None:
            if b"X" not in params or not params[b"X"].startswith(b"seq="):
                raise SystemExit(f"{decoded}: frame {i} has no Xseq=N")
            seq = int(params[b"X"][4:])
        elif i < len(seqs):
            seq = seqs[i]
        else:
            break
        ref.file.seek(where[seq % len(where)])
        ffmpeg.stdin.write(b"FRAME\n")
        ffmpeg.stdin.write(y)
        ffmpeg.stdin.write(ref.file.read(out.luma))
        n += 1
    ffmpeg.stdin.close()
    if ffmpeg.wait() != 0:
        raise SystemExit("ffmpeg's psnr filter failed")
    mse = []
    with open(stats) as f:
        for line in f:
            db = dict(kv.split(":") for kv in line.split())["psnr_y"]
            # The stats file rounds MSE to 0.01; its dB carry more of it.
            mse.append(0.0 if db == "inf" else 255**2 / 10 ** (float(db) / 10))
    os.remove(stats)
    if not mse:
        return None, 0
    mean = sum(mse) / len(mse)
    return (math.inf if mean == 0 else 10 * math.log10(255**2 / mean)), n


def camwire_row(summary, frame_log, decoded, clip):
    with open(summary) as f:
        s = json.loads(f.read().strip().splitlines()[-1])
    with open(frame_log) as f:
        ages = [float(r["latency_ms"]) for r in csv.DictReader(f)]
    db, compared = psnr_y(decoded, clip, None) if decoded else (None, 0)
    made = s["frames"] + s["dropped"]
    return {
        "frames": s["frames"], "made": made, "seconds": s["seconds"], "fps": s["fps"],
        "made_fps": made / s["seconds"] if s["seconds"] else None,
        "mbit_per_s": s["mbit_per_s"], "age_p50_ms": s["latency_ms_p50"],
        "age_p99_ms": s["latency_ms_p99"], "age_max_ms": s["latency_ms_max"],
        "age_last_ms": ages[-1] if ages else None, "psnr_y_db": db, "psnr_frames": compared,
    }


def gst_ages(made, shown):
    """(decoded time, age ms) of each shown buffer whose making is known,
    from the stamp lists of the sender's `cap` and the receiver's `dec`."""
    # The first frame goes through the whole pipeline while it starts,
    # before the pacing holds frames back, and so looks a second older than
    # it is; frames made earlier than the steady schedule say are left out
    # of the ages (they are still shown and compared).
    steady = sorted(t - frame_index(p) / FPS for t, _, p in made[10:]) or [made[0][0]]
    base = steady[len(steady) // 2]
    left = {frame_index(p): t for t, _, p in made if t >= base + (frame_index(p) - 0.5) / FPS}
    return [(t, (t - left[frame_index(p)]) * 1000) for t, _, p in shown if frame_index(p) in left]


def gst_row(tx_log, rx_log, decoded, clip):
    made = read_stamps(tx_log, "cap")
    wire = read_stamps(rx_log, "wire")
    shown = read_stamps(rx_log, "dec")
    if not made or not shown:
        raise SystemExit(f"no frames in {tx_log if not made else rx_log}")
    ages = [age for _, age in gst_ages(made, shown)]
    # As camwire's --json counts it: the first frame's arrival to the last
    # frame decoded.
    seconds = shown[-1][0] - (wire[0][0] if wire else shown[0][0])
    # The first few frames leave together while the pipeline starts; the
    # pace from the tenth on is what says whether it ran in real time.
    pace = made[10:] if len(made) > 20 else made
    made_fps = (len(pace) - 1) / (pace[-1][0] - pace[0][0]) if len(pace) > 1 else None
    db, compared = psnr_y(decoded, clip, [frame_index(p) for _, _, p in shown])
    return {
        "frames": len(shown), "made": len(made), "seconds": seconds,
        "fps": len(shown) / seconds if seconds else None, "made_fps": made_fps,
        "mbit_per_s": sum(s for _, s, _ in wire) * 8 / seconds / 1e6 if seconds else None,
        "age_p50_ms": quantile(ages, 0.5), "age_p99_ms": quantile(ages, 0.99),
        "age_max_ms": max(ages, default=None), "age_last_ms": ages[-1] if ages else None,
        "psnr_y_db": db, "psnr_frames": compared,
    }


def fmt(value, digits=1):
    if value in (None, ""):
        return "n/a"
    value = float(value)
    return "inf" if math.isinf(value) else f"{value:,.{digits}f}"


def report(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    print("| link | size | tool | shown fps | made fps | age p50 ms | age p99 ms | last frame age ms "
          "| Mbit/s | PSNR-Y dB | shown / made |")
    print("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        link = "unshaped" if r["rate"] in ("0", "unshaped") else f'{r["rate"]} Mbit/s'
        print(f'| {link} | {r["size"]} | {r["tool"]} | {fmt(r["fps"])} | {fmt(r["made_fps"])} '
              f'| {fmt(r["age_p50_ms"], 0)} | {fmt(r["age_p99_ms"], 0)} | {fmt(r["age_last_ms"], 0)} '
              f'| {fmt(r["mbit_per_s"], 2)} | {fmt(r["psnr_y_db"], 2)} | {r["frames"]} / {r["made"]} |')


def row(kind, args):
    rate, size, tool, *paths = args
    values = camwire_row(*paths) if kind == "camwire" else gst_row(*paths)
    values.update(rate=rate, size=size, tool=tool)
    # A receiver stopped mid-write leaves its last picture cut.
    if values["psnr_y_db"] is not None and values["psnr_frames"] < values["frames"] - 1:
        print(f"link_stats: {tool}: PSNR over {values['psnr_frames']} of {values['frames']} frames",
              file=sys.stderr)
    writer = csv.DictWriter(sys.stdout, FIELDS, lineterminator="\n")
    writer.writerow({k: ("" if v is None else v) for k, v in values.items()})


def main(argv):
    if len(argv) >= 4 and argv[1] == "stamp" and argv[3] == "--":
        return stamp(argv[2], argv[4:])
    if len(argv) == 9 and argv[1] in ("camwire", "gst"):
        return row(argv[1], argv[2:])
    if len(argv) == 2 and argv[1] == "header":
        print(",".join(FIELDS))
        return 0
    if len(argv) == 3 and argv[1] == "report":
        return report(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
