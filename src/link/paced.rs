//! Writing to a socket a little at a time, so that what waits unsent stays
//! within the limit `net::limit_unsent` set.
//!
//! `TCP_NOTSENT_LOWAT` alone does not bound it: the kernel checks the
//! limit only when it starts a new buffer, and with segmentation offload a
//! buffer holds up to 64 KiB, so one large write could leave 64 KiB unsent
//! whatever the limit (measured: 60 KB waiting behind a 12 KB limit, 0.7 s
//! at 700 kbit/s). A [`Paced`] writer waits until the socket is writable,
//! which honours the limit, before each piece of at most [`PIECE`] bytes.

use std::io::{self, Write};
use std::net::TcpStream;

/// The most written at once.
pub const PIECE: usize = 8 * 1024;

/// A socket written a [`PIECE`] at a time, each once the kernel's unsent
/// queue has room (within the socket's write timeout).
#[derive(Debug, Clone, Copy)]
pub struct Paced<'s>(pub &'s TcpStream);

impl Write for Paced<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wait_writable(self.0)?;
        let mut stream = self.0;
        stream.write(&buf[..buf.len().min(PIECE)])
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut stream = self.0;
        stream.flush()
    }
}

/// Waits until `stream` may be written, at most its write timeout; a
/// timeout is reported as a blocking write's would be.
#[cfg(unix)]
fn wait_writable(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    let timeout_ms = match stream.write_timeout()? {
        Some(timeout) => i32::try_from(timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(1),
        None => -1,
    };
    let mut poll = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, for a descriptor `stream` keeps open.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        match ready {
            0 => return Err(io::ErrorKind::WouldBlock.into()),
            n if n > 0 => return Ok(()),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// Elsewhere the write itself waits.
#[cfg(not(unix))]
fn wait_writable(stream: &TcpStream) -> io::Result<()> {
    let _ = stream;
    Ok(())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use crate::link::{net, tcpinfo};
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn a_stalled_peer_leaves_little_more_than_the_limit_unsent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let out = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        // A small receive window: the peer reads nothing until the end.
        socket2::SockRef::from(&peer)
            .set_recv_buffer_size(4096)
            .unwrap();
        net::limit_unsent(&out, 16 * 1024).unwrap();
        out.set_write_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut paced = Paced(&out);
        let written = (0..200)
            .map_while(|_| paced.write(&[7; 4 * PIECE]).ok())
            .sum::<usize>();
        let unsent = tcpinfo::sample(&out).unwrap().notsent as usize;
        assert!(written > 0);
        assert!(unsent <= 16 * 1024 + PIECE, "{unsent} bytes unsent");
        let mut got = vec![0; written];
        out.shutdown(std::net::Shutdown::Write).unwrap();
        peer.read_exact(&mut got).unwrap();
        assert!(got.iter().all(|&b| b == 7));
    }
}
