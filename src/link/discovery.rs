//! Finding senders on the LAN with multicast DNS service discovery
//! (mDNS/DNS-SD, RFC 6762 and 6763): a sender announces
//! `_camwire._tcp.local.` under its name; a receiver asks who is there and
//! collects the answers for [`limits::DISCOVERY_WAIT`].
//!
//! What is announced is public on the LAN, so it says nothing secret: the
//! instance name, the address and port, and three TXT records, `v` (the
//! [`PROTOCOL_VERSION`]), `private` (`1` when viewers need a code) and
//! `chat` (`1` when the sender takes calls). The code never goes in.
//!
//! A sender announces only on the interfaces its listening address covers
//! ([`Scope`]): none for a loopback address (so no test on loopback, and
//! no sender bound to `127.0.0.1`, even starts the mDNS daemon), the one
//! interface holding a specific address, every interface but loopback for
//! `0.0.0.0` (IPv4) and `[::]` (IPv4 and IPv6).
//!
//! The `mdns-sd` crate does the protocol: it is pure Rust, runs its own
//! thread and needs no system daemon (no Avahi, no Bonjour), so discovery
//! works the same on every machine camwire builds on; it is maintained
//! and used widely. Only this module names it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use mdns_sd::{DaemonEvent, IfKind, ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo};

use crate::limits;
use crate::link::net;
use crate::wire::PROTOCOL_VERSION;

/// The DNS-SD service type camwire senders announce.
pub const SERVICE_TYPE: &str = "_camwire._tcp.local.";

/// Which interfaces a listening address covers, and so where a sender
/// announces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A loopback address: only this machine can connect; nothing is said.
    Nothing,
    /// A specific address: the interface holding it.
    Address(IpAddr),
    /// `0.0.0.0` or `[::]`: every interface but loopback; `ipv6` for `[::]`.
    Every { ipv6: bool },
}

impl Scope {
    /// What `local`, a listener's address, covers.
    pub fn of(local: SocketAddr) -> Self {
        match local.ip().to_canonical() {
            ip if ip.is_loopback() => Scope::Nothing,
            ip if ip.is_unspecified() => Scope::Every {
                ipv6: local.is_ipv6(),
            },
            ip => Scope::Address(ip),
        }
    }

    /// This machine's addresses a sender in this scope announces.
    fn addresses(self) -> Vec<IpAddr> {
        match self {
            Scope::Nothing => Vec::new(),
            Scope::Address(ip) => vec![ip],
            Scope::Every { ipv6 } => net::lan_interfaces()
                .into_iter()
                .map(|lan| lan.ip)
                .filter(|ip| ip.is_ipv4() || ipv6)
                .collect(),
        }
    }
}

/// What a sender says about itself.
#[derive(Clone, Debug)]
pub struct Announcement {
    /// The instance name receivers see and give to `--connect`.
    pub name: String,
    /// Whether viewers need a code.
    pub private: bool,
    /// Whether it takes calls (`sender --chat`).
    pub chat: bool,
}

/// A sender's announcement on the LAN, withdrawn when dropped: the
/// daemon says goodbye (so receivers forget the sender at once) and stops.
pub struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
}

/// Announces `what` for a sender listening on `local`, on the interfaces
/// `local` covers; `None` when it covers none (loopback, or no address).
/// The daemon is started only when there is somewhere to announce. When
/// another sender on the LAN has the name already, this one takes the
/// next free one (`alice (2)`) and `renamed` is told it, once, from a
/// thread of the announcer's own.
pub fn announce(
    local: SocketAddr,
    what: &Announcement,
    renamed: impl Fn(String) + Send + 'static,
) -> Result<Option<Announcer>> {
    let scope = Scope::of(local);
    let addresses = scope.addresses();
    if addresses.is_empty() {
        return Ok(None);
    }
    let daemon = ServiceDaemon::new().map_err(|e| anyhow!("could not start mDNS: {e}"))?;
    // Dropped on an error below, it stops the daemon.
    let mut announcer = Announcer {
        daemon,
        fullname: String::new(),
    };
    // Queued before the daemon's first poll, so it never answers or
    // announces on any other interface.
    restrict(&announcer.daemon, scope)?;
    let txt = [
        ("v", PROTOCOL_VERSION.to_string()),
        ("private", flag(what.private).to_string()),
        ("chat", flag(what.chat).to_string()),
    ];
    let host = format!("{}.local.", host_label(local.port()));
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &what.name,
        &host,
        &addresses[..],
        local.port(),
        &txt[..],
    )
    .map_err(|e| anyhow!("could not describe this sender for mDNS: {e}"))?;
    let fullname = info.get_fullname().to_string();
    watch_for_renames(&announcer.daemon, what.name.clone(), renamed)?;
    announcer
        .daemon
        .register(info)
        .map_err(|e| anyhow!("could not announce on the LAN: {e}"))?;
    announcer.fullname = fullname;
    Ok(Some(announcer))
}

impl Drop for Announcer {
    fn drop(&mut self) {
        let until = Instant::now() + limits::ANNOUNCE_GOODBYE_WAIT;
        if !self.fullname.is_empty()
            && let Ok(said) = self.daemon.unregister(&self.fullname)
        {
            let _ = said.recv_deadline(until);
        }
        if let Ok(stopped) = self.daemon.shutdown() {
            let _ = stopped.recv_deadline(until);
        }
    }
}

/// Tells `renamed` the sender's new name each time the daemon changes it
/// to resolve a conflict; the thread ends with the daemon.
fn watch_for_renames(
    daemon: &ServiceDaemon,
    name: String,
    renamed: impl Fn(String) + Send + 'static,
) -> Result<()> {
    let events = daemon
        .monitor()
        .map_err(|e| anyhow!("could not follow the announcement: {e}"))?;
    let watch = move || {
        let mut current = name;
        for event in events.iter() {
            let DaemonEvent::NameChange(change) = event else {
                continue;
            };
            let Some(new) = instance_of(&change.new_name) else {
                continue;
            };
            if new != current {
                current = new.clone();
                renamed(new);
            }
        }
    };
    std::thread::Builder::new()
        .name("mdns-names".into())
        .spawn(watch)
        .map_err(|e| anyhow!("could not follow the announcement: {e}"))?;
    Ok(())
}

/// Keeps `daemon` to the interfaces of `scope`.
fn restrict(daemon: &ServiceDaemon, scope: Scope) -> Result<()> {
    let fail = |e: mdns_sd::Error| anyhow!("could not choose the interfaces to announce on: {e}");
    daemon.disable_interface(IfKind::All).map_err(fail)?;
    match scope {
        Scope::Nothing => {}
        Scope::Address(ip) => daemon.enable_interface(IfKind::Addr(ip)).map_err(fail)?,
        Scope::Every { ipv6 } => {
            let mut kinds = vec![IfKind::IPv4];
            if ipv6 {
                kinds.push(IfKind::IPv6);
            }
            daemon.enable_interface(kinds).map_err(fail)?;
            let loopback = vec![IfKind::LoopbackV4, IfKind::LoopbackV6];
            daemon.disable_interface(loopback).map_err(fail)?;
        }
    }
    Ok(())
}

/// The host name in a sender's address records: this machine's name made
/// a DNS label, and the port, so that it never clashes with the name a
/// system responder (Avahi) gives the machine, nor with another sender
/// here announcing other addresses.
fn host_label(port: u16) -> String {
    let machine: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '-',
        })
        .take(40)
        .collect();
    let machine = machine.trim_matches('-');
    match machine.is_empty() {
        true => format!("camwire-{port}"),
        false => format!("{machine}-camwire-{port}"),
    }
}

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// A sender found on the LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its name, as it announced it (peer text: show it with
    /// [`crate::link::handshake::printable`]).
    pub name: String,
    /// Where to connect: the address most likely reachable from here.
    pub addr: SocketAddr,
    /// Whether it needs a code (assumed when it does not say).
    pub private: bool,
    /// Whether it takes calls.
    pub chat: bool,
    /// The protocol version it speaks, when it says.
    pub version: Option<u16>,
}

impl Found {
    /// Whether it goes by `name` (DNS names ignore case).
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name || self.name.to_lowercase() == name.to_lowercase()
    }
}

/// Asks the LAN for camwire senders and collects those that answer within
/// `wait`, or until `enough` says one found is what was looked for;
/// sorted by name, at most [`limits::MAX_SENDERS_FOUND`].
pub fn browse(wait: Duration, mut enough: impl FnMut(&Found) -> bool) -> Result<Vec<Found>> {
    let daemon = ServiceDaemon::new().map_err(|e| anyhow!("could not start mDNS: {e}"))?;
    let _stop = Stop(&daemon);
    // Senders never announce on loopback.
    let loopback = vec![IfKind::LoopbackV4, IfKind::LoopbackV6];
    daemon
        .disable_interface(loopback)
        .map_err(|e| anyhow!("could not choose where to look: {e}"))?;
    let events = daemon
        .browse(SERVICE_TYPE)
        .map_err(|e| anyhow!("could not start looking: {e}"))?;
    let until = Instant::now() + wait;
    let mut found = BTreeMap::new();
    while let Ok(event) = events.recv_deadline(until) {
        let ServiceEvent::ServiceResolved(service) = event else {
            continue;
        };
        let Some(sender) = read(&service) else {
            continue;
        };
        let stop = enough(&sender);
        if found.len() < limits::MAX_SENDERS_FOUND || found.contains_key(&service.fullname) {
            found.insert(service.fullname.clone(), sender);
        }
        if stop {
            break;
        }
    }
    let mut senders: Vec<Found> = found.into_values().collect();
    senders.sort_by(|a, b| a.name.cmp(&b.name).then(a.addr.cmp(&b.addr)));
    Ok(senders)
}

/// Stops a browsing daemon, without waiting for it.
struct Stop<'a>(&'a ServiceDaemon);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = self.0.stop_browse(SERVICE_TYPE);
        let _ = self.0.shutdown();
    }
}

/// A resolved service as a sender found, if it has an address and a port.
fn read(service: &ResolvedService) -> Option<Found> {
    let ips: Vec<IpAddr> = service
        .get_addresses()
        .iter()
        .map(|ip| ip.to_ip_addr())
        .collect();
    let ip = net::most_reachable(&ips)?;
    let port = service.get_port();
    if port == 0 {
        return None;
    }
    let txt = |key: &str| service.get_property_val_str(key);
    Some(Found {
        name: instance_name(service.get_fullname()),
        addr: SocketAddr::new(ip, port),
        private: txt("private") != Some("0"),
        chat: txt("chat") == Some("1"),
        version: txt("v").and_then(|v| v.parse().ok()),
    })
}

/// The instance name in a service's full name
/// (`Alice\.laptop._camwire._tcp.local.` is `Alice.laptop`).
fn instance_name(fullname: &str) -> String {
    instance_of(fullname).unwrap_or_else(|| unescape(fullname))
}

/// The instance name in `fullname`, when it is a camwire service's.
fn instance_of(fullname: &str) -> Option<String> {
    let cut = fullname.len().checked_sub(SERVICE_TYPE.len() + 1)?;
    let tail = fullname.get(cut..)?;
    tail.eq_ignore_ascii_case(&format!(".{SERVICE_TYPE}"))
        .then(|| unescape(&fullname[..cut]))
}

/// A DNS label with its escapes (`\.`, `\\`) undone.
fn unescape(escaped: &str) -> String {
    let mut name = String::new();
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            c => name.push(c),
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    #[test]
    fn loopback_covers_nothing() {
        assert_eq!(Scope::of(at("127.0.0.1:0")), Scope::Nothing);
        assert_eq!(Scope::of(at("127.3.2.1:9999")), Scope::Nothing);
        assert_eq!(Scope::of(at("[::1]:9999")), Scope::Nothing);
        assert_eq!(Scope::of(at("[::ffff:127.0.0.1]:9999")), Scope::Nothing);
    }

    #[test]
    fn a_loopback_sender_starts_no_daemon() {
        let what = Announcement {
            name: "here".into(),
            private: true,
            chat: false,
        };
        let announced = announce(at("127.0.0.1:9999"), &what, |_| {}).unwrap();
        assert!(announced.is_none());
    }

    #[test]
    fn unspecified_covers_every_interface() {
        assert_eq!(Scope::of(at("0.0.0.0:9999")), Scope::Every { ipv6: false });
        assert_eq!(Scope::of(at("[::]:9999")), Scope::Every { ipv6: true });
    }

    #[test]
    fn a_specific_address_covers_its_interface() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(Scope::of(at("10.1.2.3:9999")), Scope::Address(ip));
        assert_eq!(Scope::of(at("[::ffff:10.1.2.3]:1")), Scope::Address(ip));
    }

    #[test]
    fn instance_names_are_unescaped() {
        assert_eq!(instance_name("alice._camwire._tcp.local."), "alice");
        assert_eq!(
            instance_name(r"Alice\.laptop\\2._camwire._tcp.local."),
            r"Alice.laptop\2"
        );
        assert_eq!(instance_name("Bob 2._CAMWIRE._tcp.local."), "Bob 2");
        assert_eq!(instance_name("odd"), "odd");
        assert_eq!(instance_of("laptop-2.local."), None);
    }

    #[test]
    fn host_labels_are_dns_labels() {
        let label = host_label(9999);
        assert!(label.ends_with("-9999"), "{label}");
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{label}"
        );
        assert!(label.len() <= 63);
    }

    #[test]
    fn names_match_whatever_their_case() {
        let found = Found {
            name: "Alice".into(),
            addr: at("10.0.0.2:9999"),
            private: true,
            chat: false,
            version: Some(PROTOCOL_VERSION),
        };
        assert!(found.is_called("alice"));
        assert!(!found.is_called("bob"));
    }
}
