//! Socket settings, connecting with useful errors, and this machine's
//! addresses.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use anyhow::{Result, anyhow};
use socket2::{SockRef, TcpKeepalive};

use crate::framing::FramingError;
use crate::limits;

/// Sets the options every camwire connection uses: no Nagle delay, and
/// keepalive probes so that a peer that vanished is noticed.
pub fn tune(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(limits::KEEPALIVE_IDLE)
        .with_interval(limits::KEEPALIVE_INTERVAL);
    SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

/// Keeps the kernel's queue of unsent bytes on a sending socket to
/// `limit`, so that a frame waiting there is never much older than the
/// newest one.
pub fn limit_unsent(stream: &TcpStream, limit: usize) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    SockRef::from(stream).set_tcp_notsent_lowat(limit as u32)?;
    #[cfg(target_os = "macos")]
    darwin::set_notsent_lowat(stream, limit)?;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
    let _ = (stream, limit);
    Ok(())
}

/// `TCP_NOTSENT_LOWAT` on macOS, which `socket2` and `libc` do not name.
/// Written against Darwin's `netinet/tcp.h`; untested, as no macOS target
/// can be built where camwire is developed.
#[cfg(target_os = "macos")]
mod darwin {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    /// From Darwin's `netinet/tcp.h`.
    const TCP_NOTSENT_LOWAT: libc::c_int = 0x201;

    pub fn set_notsent_lowat(stream: &TcpStream, bytes: usize) -> io::Result<()> {
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: the descriptor is an open socket for the call's length,
        // and the option value is a c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_NOTSENT_LOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Reads from a socket until a deadline, however slowly the bytes trickle
/// in: a peer cannot stretch a timeout by sending a byte at a time.
pub struct Deadline {
    stream: TcpStream,
    until: Instant,
}

impl Deadline {
    /// Reads from `stream` until `until`.
    pub fn new(stream: TcpStream, until: Instant) -> Self {
        Deadline { stream, until }
    }

    /// The socket, to write to.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket, with the deadline lifted.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Connects to `addr` (a `host:port`), trying each address it resolves to.
pub fn connect(addr: &str) -> Result<TcpStream> {
    let targets: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            anyhow!(
                "could not connect to {addr}: {e} (give HOST:PORT, HOST or a sender's name, e.g. 192.168.1.5:9999)"
            )
        })?
        .collect();
    let mut last = None;
    for target in &targets {
        match TcpStream::connect_timeout(target, limits::CONNECT_TIMEOUT) {
            Ok(stream) => {
                tune(&stream)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("the name has no address"));
    Err(anyhow!(
        "could not connect to {addr}: {}",
        describe_connect_error(&e)
    ))
}

fn describe_connect_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "connection refused (is the sender running, and on that port?)".into()
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "no answer within {:?} (is the address right? a firewall may drop the connection)",
            limits::CONNECT_TIMEOUT
        ),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            format!("{} (are both machines on the same network?)", plain(e))
        }
        _ => plain(e),
    }
}

/// Whether a read failed because its timeout passed.
pub fn is_timeout(e: &FramingError) -> bool {
    matches!(e, FramingError::Io(io) if is_timeout_kind(io.kind()))
}

fn is_timeout_kind(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Whether a write failed because the peer closed the connection, the
/// normal way for a viewer to leave.
pub fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// Turns a failed frame write into a sentence for the sender's console.
pub fn describe_write_error(e: io::Error) -> anyhow::Error {
    match e.kind() {
        k if is_timeout_kind(k) => anyhow!("stopped reading; dropped"),
        _ => anyhow!("{}", plain(&e)),
    }
}

/// Where a connection comes from, as far as limits go: an IPv4 address
/// (also written as IPv6), or an IPv6 /64 network, since one machine
/// usually holds a whole /64 and could take a new address for each
/// connection.
pub fn origin(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// One of this machine's addresses another machine could reach, with
/// the interface that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanAddress {
    /// The interface's name (`eth0`, `wlp2s0`, `docker0`).
    pub interface: String,
    /// The address.
    pub ip: IpAddr,
}

/// This machine's addresses that another machine could reach: IPv4 and
/// global IPv6, without loopback and link-local ones; the likely LAN ones
/// first (see [`lan_rank`]).
pub fn lan_interfaces() -> Vec<LanAddress> {
    let mut found: Vec<LanAddress> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| LanAddress {
            ip: iface.ip(),
            interface: iface.name,
        })
        .filter(|lan| reachable_from_elsewhere(lan.ip))
        .collect();
    found.sort_by_key(|lan| (lan_rank(&lan.interface, lan.ip), lan.ip));
    found.dedup_by(|a, b| a.ip == b.ip);
    found
}

fn reachable_from_elsewhere(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xe000) == 0x2000,
    }
}

/// How likely an address on `interface` is the one the other computer
/// shares, lowest first: a private IPv4 address (RFC 1918) on a physical
/// interface, then other IPv4 there, then IPv6 there, then anything on an
/// interface that looks virtual (containers, virtual machines, VPNs).
pub fn lan_rank(interface: &str, ip: IpAddr) -> u8 {
    let family = match ip {
        IpAddr::V4(v4) if v4.is_private() => 0,
        IpAddr::V4(_) => 1,
        IpAddr::V6(_) => 2,
    };
    match is_virtual(interface) {
        true => 3 + family,
        false => family,
    }
}

/// Whether an interface's name is one that container engines, virtual
/// machines and VPNs give theirs.
pub fn is_virtual(interface: &str) -> bool {
    const VIRTUAL: [&str; 14] = [
        "docker",
        "br-",
        "veth",
        "virbr",
        "vnet",
        "vmnet",
        "vboxnet",
        "tun",
        "tap",
        "wg",
        "tailscale",
        "zt",
        "utun",
        "cni",
    ];
    VIRTUAL.iter().any(|prefix| interface.starts_with(prefix))
}

/// Of `ips`, all addresses of one machine, the one most likely reachable
/// from here: one on a network this machine is on, else IPv4 before IPv6.
pub fn most_reachable(ips: &[IpAddr]) -> Option<IpAddr> {
    let ours: Vec<if_addrs::Interface> = if_addrs::get_if_addrs().unwrap_or_default();
    let shares_a_network = |ip: &IpAddr| ours.iter().any(|iface| same_network(&iface.addr, *ip));
    ips.iter()
        .copied()
        .min_by_key(|ip| (!shares_a_network(ip), ip.is_ipv6(), ip.is_loopback(), *ip))
}

fn same_network(ours: &if_addrs::IfAddr, ip: IpAddr) -> bool {
    match (ours, ip) {
        (if_addrs::IfAddr::V4(v4), IpAddr::V4(ip)) => {
            let mask = u32::from(v4.netmask);
            !v4.ip.is_loopback() && u32::from(v4.ip) & mask == u32::from(ip) & mask
        }
        (if_addrs::IfAddr::V6(v6), IpAddr::V6(ip)) => {
            let mask = u128::from(v6.netmask);
            !v6.ip.is_loopback() && u128::from(v6.ip) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// An I/O error as the words of a sentence: lowercase, without the
/// `(os error N)` that means nothing to a person.
pub fn plain(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_private_address_on_a_physical_interface_comes_first() {
        let mut seen = [
            ("docker0", ip("172.17.0.1")),
            ("wg0", ip("10.8.0.2")),
            ("eth0", ip("2001:db8::5")),
            ("eth0", ip("203.0.113.5")),
            ("wlp2s0", ip("192.168.1.5")),
            ("br-1a2b3c", ip("172.18.0.1")),
        ];
        seen.sort_by_key(|(name, ip)| (lan_rank(name, *ip), *ip));
        let names: Vec<&str> = seen.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["wlp2s0", "eth0", "eth0", "wg0", "docker0", "br-1a2b3c"]
        );
    }

    #[test]
    fn virtual_interfaces_are_told_by_their_names() {
        for name in ["docker0", "virbr0", "veth1234", "tun0", "wg0", "br-9f8e"] {
            assert!(is_virtual(name), "{name}");
        }
        for name in ["eth0", "enp3s0", "wlan0", "wlp2s0", "en0", "bridge0"] {
            assert!(!is_virtual(name), "{name}");
        }
    }

    #[test]
    fn an_address_on_a_network_of_ours_is_reachable() {
        let ours = if_addrs::IfAddr::V4(if_addrs::Ifv4Addr {
            ip: "192.168.1.7".parse().unwrap(),
            netmask: "255.255.255.0".parse().unwrap(),
            prefixlen: 24,
            broadcast: None,
        });
        assert!(same_network(&ours, ip("192.168.1.5")));
        assert!(!same_network(&ours, ip("192.168.2.5")));
        assert!(!same_network(&ours, ip("2001:db8::5")));
    }
}
