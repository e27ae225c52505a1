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
            anyhow!("could not connect to {addr}: {e} (give HOST:PORT, e.g. 192.168.1.5:9999)")
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
            format!("{} (are both machines on the same network?)", lowercase(e))
        }
        _ => lowercase(e),
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
        _ => anyhow!("{}", lowercase(&e)),
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

/// This machine's addresses that another machine could reach: IPv4 and
/// global IPv6, without loopback and link-local ones.
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xe000) == 0x2000,
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// An io::Error as text starting with a lowercase letter, without the
/// "(os error N)" suffix.
fn lowercase(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}
