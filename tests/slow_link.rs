//! A real slow link: the sender runs in a network namespace of its own,
//! joined to this one by a veth pair shaped to 50 Mbit/s with `tc tbf`.
//! Raw 640x480 at 30 fps offers 221 Mbit/s, over four times what fits, so
//! frames must be skipped at the sender instead of queueing anywhere.
//!
//! Needs root and iproute2 (`ip`, `tc`); without root it says so and passes.

mod common;

use std::fs;
use std::process::Command;

use common::*;

/// A namespace with one end of a shaped veth pair, removed on drop.
struct SlowLink {
    netns: String,
    sender_ip: String,
    /// The address of this namespace's end.
    host_ip: String,
    near: String,
    far: String,
}

impl SlowLink {
    fn new(rate: &str) -> Self {
        // Unique to this link: the tests of this file run side by side.
        static LINKS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LINKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = std::process::id() % 1000 * 10 + n % 10;
        let (netns, near, far) = (format!("cw{id}"), format!("cwa{id}"), format!("cwb{id}"));
        let subnet = format!("10.213.{}", id % 250);
        let link = SlowLink {
            netns: netns.clone(),
            sender_ip: format!("{subnet}.2"),
            host_ip: format!("{subnet}.1"),
            near: near.clone(),
            far: far.clone(),
        };
        let shape = [
            "root", "tbf", "rate", rate, "burst", "64kb", "latency", "50ms",
        ];
        ip(&["netns", "add", &netns]);
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        ip(&["link", "set", &far, "netns", &netns]);
        ip(&["addr", "add", &format!("{subnet}.1/30"), "dev", &near]);
        ip(&["link", "set", &near, "up"]);
        link.inside(
            "ip",
            &["addr", "add", &format!("{subnet}.2/30"), "dev", &far],
        );
        link.inside("ip", &["link", "set", &far, "up"]);
        link.inside("ip", &["link", "set", "lo", "up"]);
        checked(
            Command::new("tc")
                .args(["qdisc", "add", "dev", &near])
                .args(shape),
        );
        link.inside(
            "tc",
            &[&["qdisc", "add", "dev", far.as_str()][..], &shape].concat(),
        );
        link
    }

    /// Changes both ends' rate, as a link that narrows or widens, with a
    /// bucket of 16 KB (180 ms at 700 kbit/s).
    fn set_rate(&self, rate: &str) {
        let shape = [
            "root", "tbf", "rate", rate, "burst", "16kb", "latency", "50ms",
        ];
        checked(
            Command::new("tc")
                .args(["qdisc", "change", "dev", &self.near])
                .args(shape),
        );
        self.inside(
            "tc",
            &[&["qdisc", "change", "dev", self.far.as_str()][..], &shape].concat(),
        );
    }

    /// Changes the rate of what this namespace sends into the link only:
    /// the other way keeps its rate.
    fn set_rate_inwards(&self, rate: &str) {
        checked(
            Command::new("tc")
                .args(["qdisc", "change", "dev", &self.near])
                .args([
                    "root", "tbf", "rate", rate, "burst", "16kb", "latency", "50ms",
                ]),
        );
    }

    /// `program` to run inside the namespace, with `env` set.
    fn command(&self, program: &str, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns, "env"]);
        command.args(env.iter().map(|(k, v)| format!("{k}={v}")));
        command.arg(program);
        command
    }

    /// The sender, inside the namespace, with `env` set, bound to `bind`
    /// (port 0) and announcing nothing.
    fn sender(&self, bind: &str, env: &[(&str, &str)]) -> Command {
        let mut sender = self.command(env!("CARGO_BIN_EXE_sender"), env);
        sender.args(["--bind", &format!("{bind}:0"), "--no-announce"]);
        sender
    }

    fn inside(&self, program: &str, args: &[&str]) {
        checked(self.command(program, &[]).args(args));
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

fn ip(args: &[&str]) {
    checked(Command::new("ip").args(args));
}

/// The `q` quantile of `values` (0.5 the median, 0.99 the 99th percentile).
fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn frame_age_stays_bounded_on_a_50_mbit_link() {
    if !is_root() {
        eprintln!("skipped: building a shaped link needs root");
        return;
    }
    let link = SlowLink::new("50mbit");
    let mut sender = link.sender(&link.sender_ip, &[]);
    // 600 frames at 30 fps: the stream lasts 20 seconds, then ends cleanly.
    sender.args([
        "--open", "--source", "test", "--codec", "raw", "--fps", "30", "--frames", "600",
    ]);
    let (_sender, addr) = start_piped(sender);
    let log = std::env::temp_dir().join(format!("camwire-slow-link-{}.csv", std::process::id()));
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    receiver.args(["--frame-log", log.to_str().unwrap()]);
    let output = run_for(receiver, std::time::Duration::from_secs(60));
    assert!(output.status.success(), "{output:?}");
    let rows: Vec<(f64, f64)> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
            (cols[2] / 1e6, cols[3])
        })
        .collect();
    let _ = fs::remove_file(&log);
    let start = rows[0].0;
    let end = rows.last().unwrap().0;
    let window = |from: f64, to: f64| -> Vec<f64> {
        rows.iter()
            .filter(|(t, _)| (from..to).contains(&(t - start)))
            .map(|&(_, age)| age)
            .collect()
    };
    let all = quantile(rows.iter().map(|&(_, age)| age).collect(), 0.99);
    let first = quantile(window(0.0, 5.0), 0.5);
    let last = quantile(window(end - start - 5.0, f64::INFINITY), 0.5);
    eprintln!(
        "{} frames over {:.1} s; frame age p99 {all:.0} ms; median first 5 s {first:.0} ms, last 5 s {last:.0} ms",
        rows.len(),
        end - start
    );
    assert!(end - start > 15.0, "the stream lasted {:.1} s", end - start);
    assert!(all < 400.0, "p99 frame age {all:.0} ms");
    // No backlog builds up: a growing queue would make every later frame
    // older, so the median of the last 5 s would climb past the first's.
    // The median of about 30 frames, unlike their p99 (nearly their
    // maximum), is steady; allow 40 ms, a quarter of one frame's sending.
    assert!(
        last <= first + 40.0,
        "median frame age grew from {first:.0} to {last:.0} ms"
    );
}

#[test]
fn h264_follows_a_link_that_narrows_mid_stream() {
    if !is_root() {
        eprintln!("skipped: building a shaped link needs root");
        return;
    }
    let (fps, kbit, p99) = narrowing(&[]);
    assert!(kbit < 700.0, "the stream still sent {kbit:.0} kbit/s");
    assert!(
        p99 < 300.0,
        "frame age p99 {p99:.0} ms on the narrowed link"
    );
    assert!(fps > 20.0, "{fps:.1} frames a second on the narrowed link");
}

#[test]
fn without_tcp_info_the_writes_alone_follow_a_narrowing_link() {
    if !is_root() {
        eprintln!("skipped: building a shaped link needs root");
        return;
    }
    // As on a system without TCP_INFO: no round trip, so no sign of the
    // network's queue before the writes wait, and frames come a little
    // older.
    let (fps, kbit, p99) = narrowing(&[("CAMWIRE_TCP_INFO", "off")]);
    assert!(kbit < 700.0, "the stream still sent {kbit:.0} kbit/s");
    assert!(
        p99 < 600.0,
        "frame age p99 {p99:.0} ms on the narrowed link"
    );
    assert!(fps > 20.0, "{fps:.1} frames a second on the narrowed link");
}

/// A 2 Mbit/s stream through a link that narrows from 20 Mbit/s to 700
/// kbit/s after five seconds, the sender run with `env`; returns the frame
/// rate, bitrate and frame age p99 from four seconds after the change.
fn narrowing(env: &[(&str, &str)]) -> (f64, f64, f64) {
    let link = SlowLink::new("20mbit");
    let mut sender = link.sender(&link.sender_ip, env);
    // 15 s at 30 fps, 2 Mbit/s while the link allows it.
    sender.args([
        "--open",
        "--source",
        "test",
        "--codec",
        "h264",
        "--bitrate",
        "2000",
        "--fps",
        "30",
        "--frames",
        "450",
    ]);
    let (_sender, addr) = start_piped(sender);
    let log = std::env::temp_dir().join(format!("camwire-narrowing-{}.csv", std::process::id()));
    let mut receiver = receiver_bin();
    receiver.args(["--connect", &addr, "--headless", "--json"]);
    receiver.args(["--frame-log", log.to_str().unwrap()]);
    let mut receiver = start_following_stderr(receiver);
    // Five seconds at 20 Mbit/s, then a link that carries a third of the
    // stream: the stall itself is what is tested.
    std::thread::sleep(std::time::Duration::from_secs(5));
    link.set_rate("700kbit");
    let narrowed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let status = receiver.wait_exit_within(std::time::Duration::from_secs(60));
    assert!(status.success(), "receiver: {status}");
    let json = receiver.stdout_json();
    assert_eq!(json["decode_errors"], 0, "{json}");
    let rows = frame_log(&log);
    eprintln!(
        "the link narrowed {:.1} s into the stream",
        narrowed - rows[0].0
    );
    print_seconds("narrowing", &rows);
    // After four seconds to settle (what camwire takes now: the frames in
    // flight when the link narrowed, then draining the queue), to the end.
    let settled: Vec<&(f64, f64, f64)> = rows.iter().filter(|r| r.0 > narrowed + 4.0).collect();
    let span = settled.last().unwrap().0 - settled[0].0;
    let ages = settled.iter().map(|r| r.1).collect::<Vec<_>>();
    let p99 = quantile(ages.clone(), 0.99);
    let kbit = settled.iter().map(|r| r.2).sum::<f64>() * 8.0 / span / 1000.0;
    let fps = settled.len() as f64 / span;
    eprintln!(
        "narrowed to 700 kbit/s: {fps:.1} fps, {kbit:.0} kbit/s, frame age p99 {p99:.0} ms over {span:.1} s"
    );
    assert!(span > 4.0, "{span:.1} s after the link narrowed");
    (fps, kbit, p99)
}

/// Prints each second of a frame log: frames, the oldest, the bitrate.
fn print_seconds(who: &str, rows: &[(f64, f64, f64)]) {
    let start = rows[0].0;
    let seconds = (rows.last().unwrap().0 - start) as usize + 1;
    for second in 0..seconds {
        let rows: Vec<_> = rows
            .iter()
            .filter(|r| (r.0 - start) as usize == second)
            .collect();
        let oldest = rows.iter().map(|r| r.1).fold(0.0, f64::max);
        let kbit = rows.iter().map(|r| r.2).sum::<f64>() * 8.0 / 1000.0;
        eprintln!(
            "{who}, second {second}: {} frames, oldest {oldest:.0} ms, {kbit:.0} kbit",
            rows.len()
        );
    }
}

/// One receiver's frame log: (decoded time in s, age in ms, bytes).
fn frame_log(path: &std::path::Path) -> Vec<(f64, f64, f64)> {
    let rows = fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
            (cols[2] / 1e6, cols[3], cols[4])
        })
        .collect();
    let _ = fs::remove_file(path);
    rows
}

#[test]
fn two_viewers_on_different_links_share_one_encoder_and_neither_breaks() {
    if !is_root() {
        eprintln!("skipped: building a shaped link needs root");
        return;
    }
    // The sender and a fast viewer inside the namespace (over its own
    // loopback, unshaped), a slow viewer outside, over a 1 Mbit/s link.
    let link = SlowLink::new("1mbit");
    let mut sender = link.sender("0.0.0.0", &[]);
    sender.arg("--verbose");
    // 15 s at 30 fps, 2 Mbit/s: twice what the slow link carries.
    sender.args([
        "--open",
        "--source",
        "test",
        "--codec",
        "h264",
        "--bitrate",
        "2000",
        "--fps",
        "30",
        "--frames",
        "450",
    ]);
    let told = std::env::temp_dir().join(format!("camwire-two-viewers-{}.err", std::process::id()));
    let (_sender, addr) = start_piped_with_stderr(sender, fs::File::create(&told).unwrap().into());
    let port = addr.rsplit(':').next().unwrap().to_string();
    let watch = |inside: bool, name: &str| {
        let log = std::env::temp_dir().join(format!("camwire-{name}-{}.csv", std::process::id()));
        let mut receiver = if inside {
            let mut command = link.command(env!("CARGO_BIN_EXE_receiver"), &[]);
            command.args(["--connect", &format!("127.0.0.1:{port}")]);
            command
        } else {
            let mut command = receiver_bin();
            command.args(["--connect", &format!("{}:{port}", link.sender_ip)]);
            command
        };
        receiver.args(["--headless", "--json", "--frame-log", log.to_str().unwrap()]);
        (receiver, log)
    };
    let (fast, fast_log) = watch(true, "fast");
    let (slow, slow_log) = watch(false, "slow");
    let fast = std::thread::spawn(move || run_for(fast, std::time::Duration::from_secs(60)));
    let slow = run_for(slow, std::time::Duration::from_secs(60));
    let fast = fast.join().unwrap();
    assert!(fast.status.success(), "{fast:?}");
    assert!(slow.status.success(), "{slow:?}");
    let (fast_json, slow_json) = (summary(&fast), summary(&slow));
    let fast_rows = frame_log(&fast_log);
    let slow_rows = frame_log(&slow_log);
    let told = fs::read_to_string(&told).unwrap_or_default();
    let _ = fs::remove_file(
        std::env::temp_dir().join(format!("camwire-two-viewers-{}.err", std::process::id())),
    );
    eprintln!("fast: {fast_json}\nslow: {slow_json}\nthe sender said:\n{told}");
    print_seconds("slow viewer", &slow_rows);
    // After three seconds to find the slow link's rate.
    let settled = |rows: &[(f64, f64, f64)]| -> (f64, f64, f64) {
        let from = rows[0].0 + 3.0;
        let rows: Vec<_> = rows.iter().filter(|r| r.0 >= from).collect();
        let span = rows.last().unwrap().0 - from;
        let fps = rows.len() as f64 / span;
        let kbit = rows.iter().map(|r| r.2).sum::<f64>() * 8.0 / span / 1000.0;
        let p99 = quantile(rows.iter().map(|r| r.1).collect(), 0.99);
        (fps, kbit, p99)
    };
    let (fast_fps, fast_kbit, fast_p99) = settled(&fast_rows);
    let (slow_fps, slow_kbit, slow_p99) = settled(&slow_rows);
    eprintln!(
        "settled: fast {fast_fps:.1} fps {fast_kbit:.0} kbit/s p99 {fast_p99:.0} ms; \
         slow {slow_fps:.1} fps {slow_kbit:.0} kbit/s p99 {slow_p99:.0} ms"
    );
    assert_eq!(fast_json["decode_errors"], 0, "{fast_json}");
    assert_eq!(slow_json["decode_errors"], 0, "{slow_json}");
    // The slow viewer does not hold the encoder down for the fast one...
    assert!(fast_fps > 26.0, "fast viewer: {fast_fps:.1} fps");
    assert!(fast_kbit > 1500.0, "fast viewer: {fast_kbit:.0} kbit/s");
    // ...and gets whole layers less, fresh, instead of a growing queue.
    assert!(slow_kbit < 1000.0, "slow viewer: {slow_kbit:.0} kbit/s");
    assert!(
        slow_fps > 7.0 && slow_fps < 25.0,
        "slow viewer: {slow_fps:.1} fps"
    );
    assert!(
        slow_p99 < 600.0,
        "slow viewer: frame age p99 {slow_p99:.0} ms"
    );
    assert!(
        told.contains("takes temporal layers 0-") || told.contains("keyframes only"),
        "--verbose says which layers the slow viewer takes:\n{told}"
    );
}

#[test]
fn a_chat_follows_each_way_of_its_link_on_its_own() {
    if !is_root() {
        eprintln!("skipped: building a shaped link needs root");
        return;
    }
    // The host end here under a virtual screen, the caller in the
    // namespace without a window; after five seconds what the host sends
    // narrows to 700 kbit/s while what the caller sends stays at 20 Mbit/s.
    let link = SlowLink::new("20mbit");
    let video = [
        "--source",
        "test",
        "--codec",
        "h264",
        "--bitrate",
        "2000",
        "--fps",
        "30",
        "--verbose",
    ];
    let x = Xvfb::start();
    let mut host = Command::new(env!("CARGO_BIN_EXE_sender"));
    host.env("DISPLAY", &x.display);
    host.args(["--chat", "--open", "--no-announce"]);
    host.args(["--bind", &format!("{}:0", link.host_ip)])
        .args(video);
    let said = std::env::temp_dir().join(format!("camwire-chat-link-{}.err", std::process::id()));
    let (_host, addr) = start_piped_with_stderr(host, fs::File::create(&said).unwrap().into());
    let log = std::env::temp_dir().join(format!("camwire-chat-link-{}.csv", std::process::id()));
    let mut caller = link.command(env!("CARGO_BIN_EXE_receiver"), &[]);
    caller.args([
        "--chat",
        "--connect",
        &addr,
        "--headless",
        "--json",
        "--frames",
        "420",
    ]);
    caller
        .args(["--frame-log", log.to_str().unwrap()])
        .args(video);
    let caller = std::thread::spawn(move || run_for(caller, std::time::Duration::from_secs(60)));
    // The caller's first frame: the call is up.
    let deadline = std::time::Instant::now() + STEP;
    while fs::read_to_string(&log).map_or(0, |l| l.lines().count()) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never showed a frame"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    link.set_rate_inwards("700kbit");
    let narrowed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let caller = caller.join().unwrap();
    let host_said = fs::read_to_string(&said).unwrap_or_default();
    let _ = fs::remove_file(&said);
    let caller_said = String::from_utf8_lossy(&caller.stderr).to_string();
    assert!(caller.status.success(), "{caller:?}");
    let json = summary(&caller);
    assert_eq!(json["decode_errors"], 0, "{json}");
    let rows = frame_log(&log);
    print_seconds("host to caller", &rows);
    eprintln!("the host said:\n{host_said}\nthe caller said:\n{caller_said}");
    let settled: Vec<_> = rows.iter().filter(|r| r.0 > narrowed + 4.0).collect();
    let span = settled.last().unwrap().0 - settled[0].0;
    let kbit = settled.iter().map(|r| r.2).sum::<f64>() * 8.0 / span / 1000.0;
    let p99 = quantile(settled.iter().map(|r| r.1).collect(), 0.99);
    assert!(span > 3.0, "{span:.1} s after the link narrowed");
    assert!(kbit < 700.0, "the host still sent {kbit:.0} kbit/s");
    assert!(p99 < 400.0, "frame age p99 {p99:.0} ms on the narrowed way");
    // Each end's own encoder: the host's came down, the caller's did not
    // (no line at all: it stayed at --bitrate).
    let bitrates = |said: &str| -> Vec<u32> {
        said.lines()
            .filter_map(|l| l.split("bitrate now ").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect()
    };
    let (host_rates, caller_rates) = (bitrates(&host_said), bitrates(&caller_said));
    assert!(
        host_rates.iter().any(|&kbit| kbit < 700),
        "the host's bitrate: {host_rates:?}"
    );
    assert!(
        caller_rates.iter().all(|&kbit| kbit >= 1200),
        "the caller's bitrate, on a wide way: {caller_rates:?}"
    );
}
