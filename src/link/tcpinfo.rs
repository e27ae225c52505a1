//! What the kernel knows about a connection's sending side: how fast data
//! was last delivered, whether that was all the application offered, how
//! much waits unsent, and the round trip. Linux's `TCP_INFO`; elsewhere
//! nothing (macOS's `TCP_CONNECTION_INFO` and Windows's `SIO_TCP_INFO` are
//! not read: neither can be built or tried where camwire is developed),
//! and each viewer falls back on how its writes went
//! (`session::link_watch`). `CAMWIRE_TCP_INFO=off` makes Linux do the same.

use std::net::TcpStream;

/// One reading of a connection's `TCP_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSample {
    /// The kernel's latest delivery rate, in bytes a second.
    pub delivery_rate: u64,
    /// Whether that rate was limited by what the application gave, not by
    /// the network: then it says nothing about the link's capacity.
    pub app_limited: bool,
    /// Bytes written but not yet sent.
    pub notsent: u32,
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u32,
    /// The smallest round trip seen, in microseconds: the path without
    /// queues.
    pub min_rtt_us: u32,
    /// Bytes the peer has acknowledged, in all.
    pub bytes_acked: u64,
    /// Microseconds in all that data waited for the peer's receive window
    /// (the peer not reading), not for the network; 0 where not known.
    pub rwnd_limited_us: u64,
}

/// Whether to read `TCP_INFO` at all: not when `CAMWIRE_TCP_INFO=off`
/// (to follow the link from writes alone, as where there is none).
pub fn wanted() -> bool {
    std::env::var_os("CAMWIRE_TCP_INFO").is_none_or(|v| v != "off")
}

/// Reads `stream`'s `TCP_INFO`, where the system has it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn sample(stream: &TcpStream) -> Option<TcpSample> {
    use std::os::fd::AsRawFd;

    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable tcp_info of `len` bytes; the kernel
    // writes at most `len` bytes and says how many in `len`.
    let status = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    // Older kernels write less; the fields used here arrived in 4.9.
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_delivery_rate) + 8;
    if status != 0 || (len as usize) < needed {
        return None;
    }
    // SAFETY: zeroed, then written by the kernel: every field is an integer.
    let info = unsafe { info.assume_init() };
    // Since 4.10; zeroed (never limited) where the kernel wrote less.
    let rwnd_known = len as usize >= std::mem::offset_of!(libc::tcp_info, tcpi_rwnd_limited) + 8;
    const _: () = assert!(std::mem::offset_of!(libc::tcp_info, tcpi_snd_rcv_wscale) == 6);
    // The byte after the window scales holds the delivery rate's
    // app-limited bit (bit 0), a bitfield libc does not name.
    // SAFETY: offset 7 is inside the struct (tcpi_snd_rcv_wscale is at 6).
    let flags = unsafe { *(&raw const info).cast::<u8>().add(7) };
    Some(TcpSample {
        delivery_rate: info.tcpi_delivery_rate,
        app_limited: flags & 1 == 1,
        notsent: info.tcpi_notsent_bytes,
        rtt_us: info.tcpi_rtt,
        min_rtt_us: info.tcpi_min_rtt,
        bytes_acked: info.tcpi_bytes_acked,
        rwnd_limited_us: if rwnd_known {
            info.tcpi_rwnd_limited
        } else {
            0
        },
    })
}

/// Bytes written to `stream` and not yet acknowledged, sent or not
/// (`SIOCOUTQ`), where the system says.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn unacked(stream: &TcpStream) -> Option<u32> {
    use std::os::fd::AsRawFd;

    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ's number) writes one int to `queued`.
    let status = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if status != 0 {
        return None;
    }
    u32::try_from(queued).ok()
}

/// Bytes written to `stream` and not yet acknowledged: not known here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn unacked(stream: &TcpStream) -> Option<u32> {
    let _ = stream;
    None
}

/// Reads `stream`'s `TCP_INFO`, where the system has it: not here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn sample(stream: &TcpStream) -> Option<TcpSample> {
    let _ = stream;
    None
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn a_connection_reports_what_was_acknowledged() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut out = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        out.write_all(&[7; 100_000]).unwrap();
        let mut got = vec![0; 100_000];
        peer.read_exact(&mut got).unwrap();
        // The data has arrived; its acknowledgement may still be on its way.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let sample = loop {
            let sample = sample(&out).expect("Linux has TCP_INFO");
            if sample.bytes_acked >= 100_000 || std::time::Instant::now() > deadline {
                break sample;
            }
            std::thread::yield_now();
        };
        assert!(sample.bytes_acked >= 100_000, "{sample:?}");
        assert_eq!(unacked(&out), Some(0), "{sample:?}");
        assert!(sample.delivery_rate > 0, "{sample:?}");
        assert_eq!(sample.notsent, 0, "{sample:?}");
    }

    #[test]
    fn a_peer_that_does_not_read_shows_as_waiting_on_its_window() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut out = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // Accepted but never read: its receive window fills and closes.
        let (_peer, _) = listener.accept().unwrap();
        out.set_nonblocking(true).unwrap();
        let chunk = [7; 65_536];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let sample = loop {
            match out.write(&chunk) {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            let sample = sample(&out).expect("Linux has TCP_INFO");
            if sample.rwnd_limited_us > 0 || std::time::Instant::now() > deadline {
                break sample;
            }
            std::thread::yield_now();
        };
        assert!(sample.rwnd_limited_us > 0, "{sample:?}");
        assert!(sample.notsent > 0, "{sample:?}");
        assert!(unacked(&out).unwrap() >= sample.notsent, "{sample:?}");
    }
}
