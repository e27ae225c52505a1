//! What a sender says on standard output: a banner with the command to
//! run on the other computer, then a line per event. Every line is queued
//! (see [`crate::console`]): the sender goes on streaming whether anyone
//! reads them or not.

use std::net::{IpAddr, SocketAddr};

use crate::console::{self, Kind};
use crate::link::net;
use crate::session::sender::{Event, SenderConfig};
use crate::wire::Codec;

/// Queues the banner of a sender of `source` (as the user would name
/// it) at `fps` with `config`, listening on `local`; `chat` when it waits
/// for a call rather than for viewers.
pub fn print(source: &str, fps: u32, config: &SenderConfig, local: SocketAddr, chat: bool) {
    let info = config.encoder.info;
    let rate = match fps {
        0 => "as fast as viewers take frames".to_string(),
        fps => format!("{fps} fps"),
    };
    let codec = match info.codec {
        Codec::H264 => format!("h264 at {} kbit/s", config.encoder.bitrate_kbit),
        codec => codec.name().to_string(),
    };
    say(format!(
        "camwire sender: {source}, {}x{} {codec}, {rate}",
        info.width, info.height,
    ));
    if info.codec == Codec::H264 && env!("CAMWIRE_NASM") == "missing" {
        console::warn(
            "this camwire was built without nasm, so H.264 encodes about 2.4x slower: \
             run scripts/setup.sh and build again",
        );
    }
    say(format!("listening on {local}"));
    let code_arg = match &config.code {
        Some(code) => {
            say(format!(
                "private: viewers need the code {code}; the stream is encrypted"
            ));
            format!(" --code {code}")
        }
        None => {
            say("OPEN: anyone who can reach this port can watch, and nothing is encrypted".into());
            String::new()
        }
    };
    print_commands(local, &code_arg, chat);
}

/// Queues the line an event makes. Storms of connections fold (see
/// [`crate::console`]); a wrong code never does.
pub fn print_event(event: Event) {
    let (kind, line) = match event {
        Event::Joined { peer, viewers } => (
            Kind::Alike("joined"),
            format!("{peer} is watching ({viewers} watching)"),
        ),
        Event::Left {
            peer,
            viewers,
            reason,
        } => {
            let why = reason.map(|why| format!(": {why}")).unwrap_or_default();
            let line = format!("{peer} left{why} ({viewers} watching)");
            (Kind::Alike("left"), line)
        }
        Event::Refused { peer, reason } => (
            Kind::Alike("turned away"),
            format!("{peer} turned away: {reason}"),
        ),
        Event::WrongCode { peer, failures } => (
            Kind::Urgent,
            format!("{peer} gave a wrong code ({failures} wrong so far)"),
        ),
        Event::AcceptFailed(why) => (
            Kind::Alike("could not accept"),
            format!("could not accept a connection: {why}"),
        ),
    };
    console::say(kind, line);
}

/// Queues one line said once.
fn say(line: String) {
    console::say(Kind::Single, line);
}

/// Queues, for each address a receiver may use, the command to run.
fn print_commands(local: SocketAddr, code_arg: &str, chat: bool) {
    let (verb, chat) = match chat {
        true => ("call", " --chat"),
        false => ("watch", ""),
    };
    let ips: Vec<IpAddr> = if local.ip().is_unspecified() {
        net::lan_addresses()
            .into_iter()
            .filter(|ip| ip.is_ipv4() || local.is_ipv6())
            .collect()
    } else {
        vec![local.ip()]
    };
    if ips.is_empty() {
        say("no network address found: only this machine can watch".into());
    }
    for ip in ips {
        let place = match ip.is_loopback() {
            true => "this",
            false => "the other",
        };
        let addr = SocketAddr::new(ip, local.port());
        say(format!(
            "to {verb}, on {place} computer run:  receiver --connect {addr}{chat}{code_arg}"
        ));
    }
}
