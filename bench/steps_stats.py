#!/usr/bin/env python3
"""Per-second numbers, targets and plots for bench/steps.sh.

  report RUNS JSON     print each scenario's per-second table and its
                       summary against the targets of issue 13, and write
                       the per-second series to JSON
  plot JSON DIR        draw DIR/steps.png and DIR/two-viewers.png from it
                       (needs matplotlib; nothing else here does)

RUNS has a line per receiver: `SCENARIO TOOL VIEWER SECONDS BASE`. A camwire
receiver left BASE.csv (its --frame-log) and BASE.json (its --json line); a
GStreamer one BASE.rx, beside its sender's BASE.tx (bench/link_stats.py's
stamp logs). BASE.link has a line `UNIX_TIME MBIT` per rate the link took
(`unshaped` for none), the first when the stream started.

Seconds count from the first frame shown. Frame age is decode end minus
capture on this machine's one clock; a second's bitrate is the bytes of the
frames that arrived in it (camwire: the frame log's `bytes`, by decode time;
GStreamer: the buffers out of h264parse, by arrival).
"""

import csv
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from link_stats import FPS, frame_index, gst_ages, quantile, read_stamps  # noqa: E402

# The targets of issue 13.
MIN_FPS = 25              # every 1 s window, but those just after a change
SETTLE_S = 2              # the windows left out after each change
MAX_AGE_P99_MS = 300      # over a whole step run
MAX_AGE_MS = 600
WIDEN_SHARE = 0.8         # of --bitrate ...
WIDEN_WITHIN_S = 6        # ... this soon after the link widens
FAST_MIN_FPS = 28         # two viewers: the unshaped one
SLOW_MIN_FPS = 7          # the 1 Mbit/s one
SLOW_MAX_AGE_P99_MS = 400


class Run:
    """One receiver's frames: when each was shown, its age, and the bytes
    that arrived when; plus the rates its link took."""

    def __init__(self, scenario, tool, viewer, seconds, base):
        self.scenario, self.tool, self.viewer = scenario, tool, viewer
        self.seconds = int(seconds)
        self.summary = {}
        if tool == "camwire":
            self._read_camwire(base)
        else:
            self._read_gst(base)
        if not self.shown:
            raise SystemExit(f"{tool} ({scenario}, {viewer}) showed no frame: see {base}.*")
        self.t0 = self.shown[0]
        with open(base + ".link") as f:
            self.link = [(float(t) - self.t0, None if r == "unshaped" else float(r))
                         for t, r in (line.split() for line in f)]

    def _read_camwire(self, base):
        with open(base + ".csv") as f:
            rows = list(csv.DictReader(f))
        if rows and "bytes" not in rows[0]:
            raise SystemExit(f"{base}.csv has no bytes column: this receiver is older than issue 13")
        self.shown = [int(r["decoded_us"]) / 1e6 for r in rows]
        self.ages = list(zip(self.shown, (float(r["latency_ms"]) for r in rows)))
        self.arrivals = list(zip(self.shown, (int(r["bytes"]) for r in rows)))
        self.made = [(int(r["seq"]), int(r["captured_us"]) / 1e6) for r in rows]
        with open(base + ".json") as f:
            lines = f.read().strip().splitlines()
        self.summary = json.loads(lines[-1]) if lines else {}

    def _read_gst(self, base):
        made = read_stamps(base + ".tx", "cap")
        shown = read_stamps(base + ".rx", "dec")
        self.shown = [t for t, _, _ in shown]
        self.ages = gst_ages(made, shown) if made else []
        self.arrivals = [(t, size) for t, size, _ in read_stamps(base + ".rx", "wire")]
        self.made = [(frame_index(p), t) for t, _, p in made[1:]]

    def label(self):
        return self.tool if self.viewer == "-" else f"{self.tool} {self.viewer}"

    def changes(self):
        """(seconds, old rate, new rate) of each change after the start."""
        return [(t, a[1], b) for a, (t, b) in zip(self.link, self.link[1:])]

    def rate_at(self, second):
        rate = self.link[0][1]
        for t, r in self.link:
            if t <= second + 0.5:
                rate = r
        return rate

    def per_second(self):
        """A dict of lists, one entry per whole second of the run."""
        n = self.seconds
        frames, ages, kbit = [0] * n, [[] for _ in range(n)], [0.0] * n
        for t in self.shown:
            k = math.floor(t - self.t0)
            if 0 <= k < n:
                frames[k] += 1
        for t, age in self.ages:
            k = math.floor(t - self.t0)
            if 0 <= k < n:
                ages[k].append(age)
        for t, size in self.arrivals:
            k = math.floor(t - self.t0)
            if 0 <= k < n:
                kbit[k] += size * 8 / 1000
        return {
            "second": list(range(n)), "link_mbit": [self.rate_at(k) for k in range(n)],
            "fps": frames, "age_p50": [quantile(a, 0.5) for a in ages],
            "age_max": [max(a, default=None) for a in ages], "kbit": kbit,
        }

    def settling(self):
        """The windows left out of the frame-rate target: the two that
        start at (the second nearest) each change and after it."""
        out = set()
        for t, _, _ in self.changes():
            out.update(range(round(t), round(t) + SETTLE_S))
        return out

    def sender_lag_ms(self):
        """How late the sender made its latest frame against a steady
        30 fps (the median frame's pace): a sender starved of CPU makes
        frames late, and they then look younger than a camera's would."""
        offsets = sorted(t - i / FPS for i, t in self.made)
        if not offsets:
            return None
        return (offsets[-1] - offsets[len(offsets) // 2]) * 1000

    def step_ages(self, start, end):
        return [a for t, a in self.ages if start <= t - self.t0 < end]

    def step_fps(self, start, end):
        return sum(1 for t in self.shown if start <= t - self.t0 < end) / (end - start)


# ---- printing ----------------------------------------------------------------

def num(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def verdict(ok):
    return "PASS" if ok else "MISS"


def link_text(rate):
    return "unshaped" if rate is None else f"{rate:g}"


def print_table(title, runs, series, marks=frozenset()):
    print(f"\n### {title}\n")
    head = "| s | link Mbit/s |"
    rule = "|--:|--:|"
    for r in runs:
        head += f" {r.label()} fps | age p50 ms | age max ms | kbit/s |"
        rule += "--:|--:|--:|--:|"
    print(head)
    print(rule)
    # The rate of the shaped link, where one viewer's is not (two viewers).
    s = next((ser for ser in series if any(m is not None for m in ser["link_mbit"])), series[0])
    for k in range(max(r.seconds for r in runs)):
        line = f"| {k}{'*' if k in marks else ''} | {link_text(s['link_mbit'][k])} |"
        for ser in series:
            if k < len(ser["second"]):
                line += (f" {ser['fps'][k]} | {num(ser['age_p50'][k])} | {num(ser['age_max'][k])} "
                         f"| {num(ser['kbit'][k])} |")
            else:
                line += " | | | |"
        print(line)
    if marks:
        print(f"\n`*`: the {SETTLE_S} s after a change, left out of the {MIN_FPS} fps target.")


def target(name, ok, detail):
    print(f"- {verdict(ok)} {name}: {detail}")


def widen_times(run, series, kbps):
    """Seconds from each widening of the link to the end of the first whole
    window from then on with at least WIDEN_SHARE of --bitrate (None: never)."""
    out = []
    for t, old, new in run.changes():
        if old is None or (new is not None and new <= old):
            continue
        reached = None
        for k in range(math.ceil(t), run.seconds):
            if series["kbit"][k] >= WIDEN_SHARE * kbps:
                reached = k + 1 - t
                break
        out.append((t, reached))
    return out


def step_summary(profile, camwire, gst, kbps):
    cs = camwire.per_second()
    print(f"\nSummary, {profile} Mbit/s (camwire's targets; GStreamer for comparison):\n")
    for r in (camwire, gst) if gst else (camwire,):
        print(f"- {r.tool}'s link changed at " + ", ".join(f"{t:.2f} s" for t, _, _ in r.changes())
              + f" after its first frame shown; {lag_text(r)}")
    counted = [k for k in range(camwire.seconds) if k not in camwire.settling()]
    low = [k for k in counted if cs["fps"][k] < MIN_FPS]
    target(f">= {MIN_FPS} fps in every 1 s window but the {SETTLE_S} s after a change", not low,
           f"lowest {min((cs['fps'][k] for k in counted), default=0)} fps"
           + (f", below in seconds {', '.join(map(str, low))}" if low else ""))
    ages = [a for _, a in camwire.ages]
    gages = [a for _, a in gst.ages] if gst else []
    p99, top = quantile(ages, 0.99), max(ages, default=None)
    target(f"frame age p99 <= {MAX_AGE_P99_MS} ms", p99 is not None and p99 <= MAX_AGE_P99_MS,
           f"{num(p99)} ms (GStreamer {num(quantile(gages, 0.99))} ms)")
    target(f"frame age max <= {MAX_AGE_MS} ms", top is not None and top <= MAX_AGE_MS,
           f"{num(top)} ms (GStreamer {num(max(gages, default=None))} ms)")
    for t, took in widen_times(camwire, cs, kbps):
        target(f">= {WIDEN_SHARE * kbps:.0f} kbit/s within {WIDEN_WITHIN_S} s of the widening at {t:.2f} s",
               took is not None and took <= WIDEN_WITHIN_S,
               "never" if took is None else f"after {took:.1f} s")
    errors = camwire.summary.get("decode_errors")
    print(f"- camwire decode errors {errors}, frames dropped by the sender for this viewer "
          f"{camwire.summary.get('dropped')}")
    if gst:
        for t, old, new in camwire.changes():
            if new is not None and old is not None and new < old:
                ratios(new, camwire, gst, t)


def ratios(rate, camwire, gst, start):
    """camwire against GStreamer on the narrow step that starts at START."""
    ends = [t for t, _, _ in camwire.changes() if t > start]
    end = ends[0] if ends else camwire.seconds
    gstart = next(t for t, _, r in gst.changes() if r == rate)
    gends = [t for t, _, _ in gst.changes() if t > gstart]
    gend = gends[0] if gends else gst.seconds
    cfps, gfps = camwire.step_fps(start, end), gst.step_fps(gstart, gend)
    cage, gage = quantile(camwire.step_ages(start, end), 0.5), quantile(gst.step_ages(gstart, gend), 0.5)
    print(f"- on the {rate:g} Mbit/s step: camwire {cfps:.1f} fps / GStreamer {gfps:.1f} fps = "
          f"{cfps / gfps if gfps else math.inf:.2f}; frame age p50 camwire {num(cage)} ms / "
          f"GStreamer {num(gage)} ms = {cage / gage if cage is not None and gage else math.nan:.3f}")
    gs = gst.per_second()
    backlog = [(k, gs["age_p50"][k]) for k in range(round(gstart), min(round(gend), gst.seconds))]
    known = [(k, a) for k, a in backlog if a is not None]
    growth = ((known[-1][1] - known[0][1]) / (known[-1][0] - known[0][0])
              if len(known) > 1 and known[-1][0] > known[0][0] else None)
    print(f"- GStreamer's backlog on it, age p50 each second: {', '.join(num(a) for _, a in backlog)} ms "
          f"(growing {num(growth)} ms a second)")


def lag_text(run):
    return (f"its sender made a frame up to {num(run.sender_lag_ms())} ms behind real time"
            " (such a frame looks younger than a camera's would)")


def two_summary(runs, kbps):
    print("\nSummary, two viewers of one sender:\n")
    for tool in sorted({r.tool for r in runs}):
        print(f"- {tool}: {lag_text(next(r for r in runs if r.tool == tool))}")
    for r in runs:
        if r.tool != "camwire":
            continue
        s = r.per_second()
        fps, kbit = sum(s["fps"]) / r.seconds, sum(s["kbit"]) / r.seconds
        p99 = quantile([a for _, a in r.ages], 0.99)
        errors = r.summary.get("decode_errors")
        if r.link[0][1] is None:
            target(f"{r.label()}: >= {FAST_MIN_FPS} fps", fps >= FAST_MIN_FPS, f"{fps:.1f} fps")
            target(f"{r.label()}: >= {WIDEN_SHARE * kbps:.0f} kbit/s", kbit >= WIDEN_SHARE * kbps,
                   f"{kbit:.0f} kbit/s")
        else:
            target(f"{r.label()}: >= {SLOW_MIN_FPS} fps", fps >= SLOW_MIN_FPS, f"{fps:.1f} fps")
            target(f"{r.label()}: frame age p99 <= {SLOW_MAX_AGE_P99_MS} ms",
                   p99 is not None and p99 <= SLOW_MAX_AGE_P99_MS, f"{num(p99)} ms")
        target(f"{r.label()}: no decode errors", errors == 0,
               f"{errors} (dropped {r.summary.get('dropped')}, age max {num(max(a for _, a in r.ages))} ms)")
    for r in runs:
        if r.tool != "camwire":
            s = r.per_second()
            print(f"- {r.label()}: {sum(s['fps']) / r.seconds:.1f} fps, {sum(s['kbit']) / r.seconds:.0f} kbit/s, "
                  f"age p99 {num(quantile([a for _, a in r.ages], 0.99))} ms")


def report(runs_path, out_path):
    with open(runs_path) as f:
        runs = [Run(*line.split()) for line in f if line.strip()]
    kbps = float(os.environ.get("BENCH_BITRATE", "2000"))
    scenarios = {}
    for r in runs:
        scenarios.setdefault(r.scenario, []).append(r)
    plots = []
    for name, group in scenarios.items():
        group.sort(key=lambda r: (r.tool != "camwire", r.viewer))
        series = [r.per_second() for r in group]
        if name == "two-viewers":
            print_table("Two viewers of one sender: A unshaped, B through 1 Mbit/s", group, series)
            two_summary(group, kbps)
        else:
            camwire = next(r for r in group if r.tool == "camwire")
            gst = next((r for r in group if r.tool != "camwire"), None)
            profile = name.removeprefix("steps-").replace("-", " -> ")
            print_table(f"Step link {profile} Mbit/s", group, series, camwire.settling())
            step_summary(profile, camwire, gst, kbps)
        plots.append({"scenario": name, "runs": [dict(label=r.label(), **s) for r, s in zip(group, series)]})
    with open(out_path, "w") as f:
        json.dump({"kbps": kbps, "scenarios": plots}, f)
    return 0


# ---- plotting ----------------------------------------------------------------

def plot(json_path, out_dir):
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("steps_stats: matplotlib is missing (apt-get install python3-matplotlib)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(json_path) as f:
        data = json.load(f)
    steps = [s for s in data["scenarios"] if s["scenario"] != "two-viewers"]
    two = [s for s in data["scenarios"] if s["scenario"] == "two-viewers"]
    written = []
    for name, group in (("steps", steps), ("two-viewers", two)):
        if not group:
            continue
        fig, axes = plt.subplots(3, len(group), figsize=(6.5 * len(group), 8), sharex="col", squeeze=False)
        for col, scenario in enumerate(group):
            draw_scenario(axes[:, col], scenario, data["kbps"])
        fig.tight_layout()
        path = os.path.join(out_dir, f"{name}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    print("plots: " + ", ".join(written))
    return 0


def draw_scenario(axes, scenario, kbps):
    from matplotlib.ticker import ScalarFormatter

    fps_ax, age_ax, rate_ax = axes
    name = scenario["scenario"]
    profile = name.removeprefix("steps-").replace("-", " -> ")
    fps_ax.set_title("two viewers: A unshaped, B 1 Mbit/s" if name == "two-viewers" else f"link {profile} Mbit/s")
    for i, run in enumerate(scenario["runs"]):
        t = [k + 0.5 for k in run["second"]]
        look = {"color": f"C{i}", "marker": "."}
        fps_ax.plot(t, run["fps"], label=run["label"], **look)
        age_ax.plot(t, [a if a is not None else math.nan for a in run["age_p50"]],
                    label=f"{run['label']} p50", **look)
        age_ax.plot(t, [a if a is not None else math.nan for a in run["age_max"]], linestyle=":",
                    color=look["color"], label=f"{run['label']} max")
        rate_ax.plot(t, run["kbit"], label=run["label"], **look)
    # The shaped viewer's link (camwire's: GStreamer's took the same rates).
    link = next((r for r in scenario["runs"] if any(m is not None for m in r["link_mbit"])), None)
    steps = [(k, r * 1000) for k, r in zip(link["second"], link["link_mbit"]) if r is not None] if link else []
    if steps:
        xs = [k for k, _ in steps] + [steps[-1][0] + 1]
        rate_ax.step(xs, [r for _, r in steps] + [steps[-1][1]], where="post", color="black",
                     linewidth=1, label="link")
    fps_ax.axhline(MIN_FPS, color="grey", linewidth=0.5)
    # Room above 30 fps for the catching up after a backlog drains.
    fps_ax.set_ylim(0, max([35] + [f + 5 for run in scenario["runs"] for f in run["fps"]]))
    fps_ax.set_ylabel("frames shown / s")
    age_ax.axhline(MAX_AGE_MS, color="grey", linewidth=0.5)
    age_ax.set_yscale("log")
    age_ax.set_ylabel("frame age, ms")
    rate_ax.axhline(kbps, color="grey", linewidth=0.5)
    rate_ax.set_yscale("log")
    rate_ax.set_ylabel("kbit/s")
    rate_ax.set_xlabel("seconds from the first frame shown")
    for ax in (age_ax, rate_ax):
        ax.yaxis.set_major_formatter(ScalarFormatter())
    for ax in axes:
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=7)


def main(argv):
    if len(argv) == 4 and argv[1] == "report":
        return report(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "plot":
        return plot(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
