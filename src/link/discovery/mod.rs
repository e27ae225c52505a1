//! Finding senders on the LAN with multicast DNS service discovery
//! (mDNS/DNS-SD, RFC 6762 and 6763): a sender announces
//! `_camwire._tcp.local.` under its name; a receiver asks who is there and
//! collects the answers for [`crate::limits::DISCOVERY_WAIT`].
//!
//! What is announced is public on the LAN, so it says nothing secret: the
//! instance name, the address and port, and three TXT records, `v` (the
//! [`crate::wire::PROTOCOL_VERSION`]), `private` (`1` when viewers need a
//! code) and `chat` (`1` when the sender takes calls). The code never
//! goes in.
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
//!
//! - [`announce`]: a sender's announcement, kept to its interfaces.
//! - [`browse`]: a receiver's look around the LAN.

mod announce;
mod browse;

use std::net::{IpAddr, SocketAddr};

pub use announce::{Announcement, Announcer, announce};
pub use browse::{Found, browse};

use crate::link::net;

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
}
