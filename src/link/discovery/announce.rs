//! A sender's announcement on the LAN, kept to the interfaces its
//! listening address covers, and withdrawn when it ends.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Result, anyhow};
use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo};

use super::{SERVICE_TYPE, Scope, instance_of};
use crate::limits;
use crate::wire::PROTOCOL_VERSION;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
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
}
