//! A receiver's look around the LAN for senders.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent};

use super::{SERVICE_TYPE, instance_name};
use crate::limits;
use crate::link::net;

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
        self.name.to_lowercase() == name.to_lowercase()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTOCOL_VERSION;

    fn at(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
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
