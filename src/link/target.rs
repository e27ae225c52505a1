//! What `receiver --connect` names, and the order in which it is tried:
//!
//! 1. an IP address with a port (`192.168.1.5:9999`, `[fe80::1]:9999`);
//! 2. an IP address alone (`192.168.1.5`): port [`limits::DEFAULT_PORT`];
//! 3. anything else with a colon (`laptop.lan:9999`): a `HOST:PORT`,
//!    resolved when connecting, as before discovery existed;
//! 4. a bare word (`alice`): first the name of a sender on the LAN (the
//!    look stops as soon as it answers, at most [`limits::DISCOVERY_WAIT`]),
//!    then a host name (DNS, `/etc/hosts`) with port 9999. `localhost` is
//!    always this machine.
//!
//! The name comes before the host for a bare word because a sender
//! announces the host name by default and may listen on another port than
//! 9999: the command its banner prints, `receiver --connect NAME`, must
//! reach it even where the LAN's DNS knows the machine too.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use anyhow::{Result, bail};

use crate::limits;
use crate::link::discovery::{self, Found};
use crate::link::handshake::printable;

/// What to check when no sender answers on the LAN.
pub const NOT_FOUND_HINT: &str = "are both computers on the same network? was the sender \
     started with --no-announce, or bound to 127.0.0.1? a firewall must let mDNS through (UDP port 5353)";

/// What `--connect` names, before any name is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address to dial as it is (`HOST:PORT`).
    Dial(String),
    /// A bare word: a sender's name, or a host.
    Word(String),
}

impl Target {
    /// Reads a `--connect` value; see the module's documentation.
    pub fn parse(arg: &str) -> Self {
        if arg.parse::<SocketAddr>().is_ok() {
            return Target::Dial(arg.to_string());
        }
        if let Ok(ip) = arg.parse::<IpAddr>() {
            return Target::Dial(SocketAddr::new(ip, limits::DEFAULT_PORT).to_string());
        }
        if arg.contains(':') {
            return Target::Dial(arg.to_string());
        }
        if arg.eq_ignore_ascii_case("localhost") {
            return Target::Dial(format!("{arg}:{}", limits::DEFAULT_PORT));
        }
        Target::Word(arg.to_string())
    }
}

/// Where a `--connect` value leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// An address to dial (`HOST:PORT`).
    Dial(String),
    /// A sender found on the LAN by its name.
    Sender(Found),
}

impl Located {
    /// The `HOST:PORT` to dial.
    pub fn addr(&self) -> String {
        match self {
            Located::Dial(addr) => addr.clone(),
            Located::Sender(found) => found.addr.to_string(),
        }
    }

    /// The name the sender was found by on the LAN, if it was.
    pub fn name(&self) -> Option<&str> {
        match self {
            Located::Dial(_) => None,
            Located::Sender(found) => Some(&found.name),
        }
    }
}

/// The sender called `name` on the LAN now, if one answers within
/// [`limits::DISCOVERY_WAIT`] (the look stops as soon as it does): where a
/// receiver that found it by name looks again before each retry, since a
/// sender started again may listen elsewhere.
pub fn find(name: &str) -> Result<Option<Found>> {
    let senders = discovery::browse(limits::DISCOVERY_WAIT, |found| found.is_called(name))?;
    Ok(called(&senders, name).cloned())
}

/// Finds where `arg`, a `--connect` value, leads; looks on the LAN for a
/// bare word. Fails with one line when a bare word is neither a sender's
/// name nor a host.
pub fn locate(arg: &str) -> Result<Located> {
    let word = match Target::parse(arg) {
        Target::Dial(addr) => return Ok(Located::Dial(addr)),
        Target::Word(word) => word,
    };
    let looked = discovery::browse(limits::DISCOVERY_WAIT, |found| found.is_called(&word));
    let senders = match &looked {
        Ok(senders) => &senders[..],
        Err(_) => &[],
    };
    if let Some(found) = called(senders, &word) {
        return Ok(Located::Sender(found.clone()));
    }
    let host = format!("{word}:{}", limits::DEFAULT_PORT);
    if host
        .to_socket_addrs()
        .is_ok_and(|mut ips| ips.next().is_some())
    {
        return Ok(Located::Dial(host));
    }
    let shown = printable(&word);
    match looked {
        Err(e) => bail!(
            "could not connect to {shown}: no host has that name, and looking for a sender \
             of that name on the LAN failed: {e:#}"
        ),
        Ok(_) => bail!(
            "could not connect to {shown}: no sender of that name answered on the LAN within \
             {:?}, and no host has that name (receiver --list shows the senders found; {NOT_FOUND_HINT})",
            limits::DISCOVERY_WAIT
        ),
    }
}

/// The sender called `name`: of that exact spelling, else in another case.
fn called<'a>(senders: &'a [Found], name: &str) -> Option<&'a Found> {
    let exact = senders.iter().find(|found| found.name == name);
    exact.or_else(|| senders.iter().find(|found| found.is_called(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(addr: &str) -> Target {
        Target::Dial(addr.to_string())
    }

    #[test]
    fn an_address_with_a_port_is_dialled_as_it_is() {
        assert_eq!(Target::parse("10.0.0.5:1234"), dial("10.0.0.5:1234"));
        assert_eq!(Target::parse("[::1]:1234"), dial("[::1]:1234"));
    }

    #[test]
    fn an_address_alone_gets_the_default_port() {
        assert_eq!(Target::parse("10.0.0.5"), dial("10.0.0.5:9999"));
        assert_eq!(Target::parse("fd00::5"), dial("[fd00::5]:9999"));
    }

    #[test]
    fn a_host_with_a_port_is_left_to_connecting() {
        assert_eq!(Target::parse("laptop.lan:80"), dial("laptop.lan:80"));
        assert_eq!(Target::parse("no-port-here:x"), dial("no-port-here:x"));
        assert_eq!(Target::parse("localhost"), dial("localhost:9999"));
    }

    #[test]
    fn a_bare_word_is_a_name_or_a_host() {
        let word = |w: &str| Target::Word(w.to_string());
        assert_eq!(Target::parse("alice"), word("alice"));
        assert_eq!(Target::parse("Alice's laptop"), word("Alice's laptop"));
        assert_eq!(Target::parse("laptop.lan"), word("laptop.lan"));
    }

    #[test]
    fn the_exact_spelling_wins() {
        let at = |name: &str, port| Found {
            name: name.into(),
            addr: SocketAddr::from(([10, 0, 0, 2], port)),
            private: false,
            chat: false,
            version: None,
        };
        let senders = [at("Alice", 1), at("alice", 2)];
        assert_eq!(called(&senders, "alice").unwrap().addr.port(), 2);
        assert_eq!(called(&senders, "ALICE").unwrap().addr.port(), 1);
        assert!(called(&senders, "bob").is_none());
    }
}
