//! What a sender says on standard output: a banner with the command to
//! run on the other computer, then a line per event. Every line is queued
//! (see [`crate::console`]): the sender goes on streaming whether anyone
//! reads them or not.

use std::net::SocketAddr;

use crate::console::{self, Kind};
use crate::link::net::{self, LanAddress};
use crate::session::call::LEFT;
use crate::session::sender::{Event, SenderConfig};
use crate::ui::lan::shell_word;
use crate::wire::Codec;

/// What a sender's banner tells.
pub struct Banner<'a> {
    /// The source, as the user would name it.
    pub source: &'a str,
    /// `--fps`.
    pub fps: u32,
    /// The sender's configuration.
    pub config: &'a SenderConfig,
    /// Where it listens.
    pub local: SocketAddr,
    /// Whether it waits for a call rather than for viewers.
    pub chat: bool,
    /// The name it is announced by on the LAN, if it is.
    pub announced: Option<&'a str>,
}

/// Queues the banner: what is sent, where, with which code, and the
/// command to run on the other computer.
pub fn print(banner: &Banner) {
    let Banner {
        source,
        fps,
        config,
        local,
        chat,
        announced,
    } = *banner;
    let info = config.encoder.info;
    let rate = match fps {
        0 if chat => "as fast as the call takes frames".to_string(),
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
    let (who, what, can) = match chat {
        true => ("callers", "call", "call"),
        false => ("viewers", "stream", "watch"),
    };
    let code_arg = match &config.code {
        Some(code) => {
            say(format!(
                "private: {who} need the code {code}; the {what} is encrypted"
            ));
            format!(" --code {code}")
        }
        None => {
            say(format!(
                "OPEN: anyone who can reach this port can {can}, and nothing is encrypted"
            ));
            String::new()
        }
    };
    let (verb, chat) = match chat {
        true => ("call", " --chat"),
        false => ("watch", ""),
    };
    let tail = format!("{chat}{code_arg}");
    match announced {
        Some(name) => print_by_name(name, local, verb, &tail),
        None => print_by_address(local, verb, &tail),
    }
}

/// What a connection that closed before its opening exchange was over did.
const LEFT_EARLY: &str = "left during the opening exchange";

/// The lines of connections that did not get in, folded together: a storm
/// of them (a port scan) mixes those turned away for want of a place with
/// those that reset before the sender read them.
const NOT_IN: &str = "turned away or left early";

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
        Event::CallEnded { peer, .. } => (Kind::Alike("left"), format!("{peer} left the call")),
        Event::AskedForCode { peer } => (
            Kind::Alike("asked for the code"),
            format!("{peer} was asked for the code"),
        ),
        Event::LeftEarly { peer } => (Kind::Alike(NOT_IN), format!("{peer} {LEFT_EARLY}")),
        Event::Refused { peer, reason } => {
            (Kind::Alike(NOT_IN), format!("{peer} turned away: {reason}"))
        }
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

/// Queues the line an event makes for a chat sender, which has callers,
/// not viewers: a caller on the line, gone, cut off or turned away.
pub fn print_call_event(event: Event) {
    match event {
        Event::Joined { peer, .. } => say(format!("{peer} called: the call is on")),
        Event::Left {
            peer,
            reason: Some(why),
            ..
        } => say(format!("the call with {peer} ended: {why}")),
        Event::Left { reason: None, .. } => {}
        Event::CallEnded { why, .. } => {
            let why = why.map(|why| format!(" ({why})")).unwrap_or_default();
            say(format!("{LEFT}{why}; waiting for the next call"));
        }
        other => print_event(other),
    }
}

/// Queues one line said once.
fn say(line: String) {
    console::say(Kind::Single, line);
}

/// Queues the short command, by name, then the same by each address.
fn print_by_name(name: &str, local: SocketAddr, verb: &str, tail: &str) {
    say(format!(
        "to {verb}, on the other computer run:  receiver --connect {}{tail}",
        shell_word(name)
    ));
    let rows: Vec<(String, String)> = addresses(local)
        .into_iter()
        .map(|(interface, addr)| {
            let lead = format!("  or by address{}:", from(&interface));
            (lead, format!("receiver --connect {addr}{tail}"))
        })
        .collect();
    say_aligned(rows);
}

/// Queues the command for each address a receiver may use, the likely LAN
/// one first, each labelled by its interface.
fn print_by_address(local: SocketAddr, verb: &str, tail: &str) {
    if local.ip().is_loopback() {
        say(format!(
            "to {verb}, on this computer run:  receiver --connect {local}{tail}"
        ));
        return;
    }
    let found = addresses(local);
    if found.is_empty() {
        say(format!(
            "no network address found: only this machine can {verb}"
        ));
    }
    let rows = found
        .into_iter()
        .enumerate()
        .map(|(i, (interface, addr))| {
            let lead = match i {
                0 => format!("to {verb}{}, on the other computer run:", from(&interface)),
                _ => format!("  or{}:", from(&interface)),
            };
            (lead, format!("receiver --connect {addr}{tail}"))
        })
        .collect();
    say_aligned(rows);
}

/// This machine's addresses a receiver elsewhere may use to reach
/// `local`, with the interface of each, the likely LAN one first.
fn addresses(local: SocketAddr) -> Vec<(Option<String>, SocketAddr)> {
    let covered = |lan: &LanAddress| match local.ip().is_unspecified() {
        true => lan.ip.is_ipv4() || local.is_ipv6(),
        false => lan.ip == local.ip().to_canonical(),
    };
    let mut found: Vec<(Option<String>, SocketAddr)> = net::lan_interfaces()
        .into_iter()
        .filter(covered)
        .map(|lan| (Some(lan.interface), SocketAddr::new(lan.ip, local.port())))
        .collect();
    if found.is_empty() && !local.ip().is_unspecified() {
        found.push((None, local));
    }
    found
}

/// ` from eth0's network`, naming where an address is.
fn from(interface: &Option<String>) -> String {
    interface
        .as_ref()
        .map(|name| format!(" from {name}'s network"))
        .unwrap_or_default()
}

/// Queues lines of a lead-in and a command, the commands aligned.
fn say_aligned(rows: Vec<(String, String)>) {
    let width = rows.iter().map(|(lead, _)| lead.chars().count()).max();
    for (lead, command) in &rows {
        let pad = width.unwrap_or(0) - lead.chars().count();
        say(format!("{lead}{:pad$}  {command}", ""));
    }
}
