//! YUV4MPEG2 (`.y4m`), the uncompressed clip format of ffmpeg and most
//! video tools: what camwire makes of a clip's header, and the writer a
//! receiver records decoded pictures with.
//!
//! A file is one header line, such as ffmpeg's
//! `YUV4MPEG2 W1280 H720 F30:1 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2`, then for
//! each frame a line `FRAME` (parameters may follow after a space) and the
//! frame's planes, Y then U then V, each tightly packed. camwire reads and
//! writes 8-bit 4:2:0 (I420) only: `C420`, `C420jpeg`, `C420paldv`,
//! `C420mpeg2`, or no `C` at all, which means `C420`. The header is parsed
//! by the `y4m` crate, its frame size bounded by camwire's limits.

use std::fmt;
use std::io::{self, BufWriter, Write};

use crate::limits;
use crate::media::codec::yuv::{self, i420_len};
use crate::media::codec::{Decoded, Yuv};

/// What starts every YUV4MPEG2 file.
pub const MAGIC: &[u8] = b"YUV4MPEG2 ";

/// What starts every frame's line.
pub const FRAME_MAGIC: &[u8] = b"FRAME";

/// The header a clip gave, once camwire has accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes of one frame's planes (tightly packed I420).
    pub frame_len: usize,
}

/// Why a clip's header is not one camwire plays. Each reads after the
/// clip's name: `clip.y4m is C444, ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// It does not begin as a YUV4MPEG2 file does.
    #[error("is not a YUV4MPEG2 clip (it does not begin with \"YUV4MPEG2 \")")]
    NotY4m,
    /// It begins as one, but the header cannot be read.
    #[error("has a YUV4MPEG2 header camwire cannot read: {0}")]
    Unreadable(&'static str),
    /// Its pictures are not 8-bit 4:2:0.
    #[error(
        "is {0}, not I420: camwire plays only 8-bit 4:2:0 clips (C420, C420jpeg, C420paldv, C420mpeg2); convert it with ffmpeg -i IN -pix_fmt yuv420p OUT.y4m"
    )]
    NotI420(String),
    /// Its pictures are larger than camwire streams.
    #[error("is {0}, larger than camwire streams (at most {w}x{h})", w = limits::MAX_WIDTH, h = limits::MAX_HEIGHT)]
    TooLarge(String),
}

/// Reads a clip's header line (`line` holds it with its newline; bytes
/// after the newline are ignored) and decides whether camwire plays it.
pub fn parse_header(line: &[u8]) -> Result<Header, HeaderError> {
    if !line.starts_with(MAGIC) {
        return Err(HeaderError::NotY4m);
    }
    let Some(end) = line.iter().position(|&b| b == b'\n') else {
        return Err(HeaderError::Unreadable(
            "its first line does not end (the file is cut short, or the line is over 1 KiB)",
        ));
    };
    let line = &line[..=end];
    let bytes = i420_len(limits::MAX_WIDTH, limits::MAX_HEIGHT);
    let decoder = match y4m::Decoder::new_with_limits(line, y4m::Limits { bytes }) {
        Ok(decoder) => decoder,
        Err(y4m::Error::UnknownColorspace) => return Err(HeaderError::NotI420(colour(line))),
        Err(y4m::Error::OutOfMemory) => return Err(HeaderError::TooLarge(size(line))),
        Err(y4m::Error::ParseError(y4m::ParseError::General)) => {
            return Err(HeaderError::Unreadable(
                "its width or height is missing or 0",
            ));
        }
        Err(_) => {
            return Err(HeaderError::Unreadable(
                "a number or a ratio in it is not one",
            ));
        }
    };
    if !is_i420(decoder.get_colorspace()) {
        return Err(HeaderError::NotI420(colour(line)));
    }
    let too_large = |side: usize, max: u32| u32::try_from(side).map_or(true, |side| side > max);
    let (w, h) = (decoder.get_width(), decoder.get_height());
    if too_large(w, limits::MAX_WIDTH) || too_large(h, limits::MAX_HEIGHT) {
        return Err(HeaderError::TooLarge(size(line)));
    }
    let (width, height) = (w as u32, h as u32);
    Ok(Header {
        width,
        height,
        frame_len: i420_len(width, height),
    })
}

/// Whether pictures of colourspace `c` are I420: 8-bit 4:2:0, whatever
/// the chroma siting.
pub fn is_i420(c: y4m::Colorspace) -> bool {
    use y4m::Colorspace::*;
    matches!(c, C420 | C420jpeg | C420paldv | C420mpeg2)
}

/// Whether `line` (without its newline) is a frame's line: `FRAME`, or
/// `FRAME` and parameters after a space.
pub fn is_frame_line(line: &[u8]) -> bool {
    line.strip_prefix(FRAME_MAGIC)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b' ')
}

/// The value of the header's parameter `tag` (`W`, `H`, `C`...), shown
/// as text.
fn param(line: &[u8], tag: u8) -> Option<String> {
    let line = line.strip_prefix(MAGIC)?.strip_suffix(b"\n")?;
    line.split(|&b| b == b' ')
        .find(|p| p.first() == Some(&tag))
        .map(|p| String::from_utf8_lossy(&p[1..]).escape_debug().to_string())
}

/// How the header names its colourspace, for a message.
fn colour(line: &[u8]) -> String {
    let c = param(line, b'C').unwrap_or_default();
    let what = match c.as_str() {
        c if c.starts_with("444") => " (4:4:4)",
        c if c.starts_with("422") => " (4:2:2)",
        c if c.starts_with("mono") => " (greyscale)",
        c if c.starts_with("420p") => " (4:2:0 of more than 8 bits)",
        _ => " (a colourspace camwire does not know)",
    };
    format!("C{c}{what}")
}

/// The header's size, for a message.
fn size(line: &[u8]) -> String {
    let side = |tag| param(line, tag).unwrap_or_else(|| "?".into());
    format!("{}x{}", side(b'W'), side(b'H'))
}

/// Why a picture could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Whoever read the recording has stopped (a closed pipe, as under
    /// `| head`): a normal end.
    #[error("{0} was closed")]
    Closed(String),
    /// Writing failed (a full disk, say).
    #[error("could not write the YUV4MPEG2 recording to {name}: {source}")]
    Write {
        /// Where it went.
        name: String,
        /// What failed.
        source: io::Error,
    },
    /// A new stream (after a reconnection) has another size than the
    /// recording.
    #[error(
        "the stream is now {now}, but the YUV4MPEG2 recording in {name} is {was} and a file holds one size: start a new recording"
    )]
    SizeChanged {
        /// Where it went.
        name: String,
        /// The recording's size.
        was: String,
        /// The new stream's size.
        now: String,
    },
}

/// Writes decoded pictures as an I420 YUV4MPEG2 stream: the header (at
/// the first picture, with its size), then each picture as a frame whose
/// line carries its sequence number, `FRAME Xseq=N`. Every frame is
/// flushed whole, so that a player reading a pipe sees it at once.
pub struct Y4mWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    name: String,
    size: Option<(u32, u32)>,
    scratch: Vec<u8>,
}

impl fmt::Debug for Y4mWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Y4mWriter")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The header camwire writes: the frame rate is nominal (a receiver
/// records what arrives), progressive, square pixels, and `C420jpeg`,
/// which is what ffmpeg writes for plain 4:2:0.
pub fn header_line(width: u32, height: u32) -> String {
    format!("YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n")
}

impl Y4mWriter {
    /// A writer to `out`, called `name` in messages.
    pub fn new(out: impl Write + Send + 'static, name: &str) -> Self {
        Y4mWriter {
            out: BufWriter::with_capacity(1 << 20, Box::new(out)),
            name: name.to_string(),
            size: None,
            scratch: Vec::new(),
        }
    }

    /// Where it writes, as messages name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `picture`, of `width` x `height`, as the frame of sequence
    /// number `seq`.
    pub fn write(
        &mut self,
        seq: u64,
        picture: &Decoded<'_>,
        width: u32,
        height: u32,
    ) -> Result<(), RecordError> {
        match self.size {
            Some(was) if was != (width, height) => {
                return Err(RecordError::SizeChanged {
                    name: self.name.clone(),
                    was: format!("{}x{}", was.0, was.1),
                    now: format!("{width}x{height}"),
                });
            }
            Some(_) => {}
            None => {
                self.size = Some((width, height));
                let header = header_line(width, height);
                self.out
                    .write_all(header.as_bytes())
                    .map_err(|e| self.failed(e))?;
            }
        }
        self.write_frame(seq, picture, width, height)
            .and_then(|()| self.out.flush())
            .map_err(|e| self.failed(e))
    }

    fn write_frame(
        &mut self,
        seq: u64,
        picture: &Decoded<'_>,
        width: u32,
        height: u32,
    ) -> io::Result<()> {
        // `writeln!` ends the line with a bare \n everywhere, as the format needs.
        writeln!(self.out, "FRAME Xseq={seq}")?;
        match picture {
            Decoded::I420(yuv) => write_planes(&mut self.out, yuv),
            Decoded::Rgb(rgb) => {
                yuv::rgb_to_i420(rgb, width, height, &mut self.scratch);
                self.out.write_all(&self.scratch)
            }
        }
    }

    fn failed(&self, e: io::Error) -> RecordError {
        match e.kind() {
            io::ErrorKind::BrokenPipe => RecordError::Closed(self.name.clone()),
            _ => RecordError::Write {
                name: self.name.clone(),
                source: e,
            },
        }
    }
}

/// Writes the planes of `yuv` tightly packed, row by row.
fn write_planes(out: &mut impl Write, yuv: &Yuv<'_>) -> io::Result<()> {
    let (cw, ch) = yuv::chroma_size(yuv.width, yuv.height);
    let w = yuv.width as usize;
    for row in yuv.y.chunks(yuv.y_stride).take(yuv.height as usize) {
        out.write_all(&row[..w])?;
    }
    for plane in [yuv.u, yuv.v] {
        for row in plane.chunks(yuv.uv_stride).take(ch) {
            out.write_all(&row[..cw])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn header(text: &str) -> Result<Header, HeaderError> {
        parse_header(text.as_bytes())
    }

    #[test]
    fn what_ffmpeg_writes_is_accepted() {
        let got = header("YUV4MPEG2 W1280 H720 F30:1 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2\nFRAME\n");
        assert_eq!(
            got,
            Ok(Header {
                width: 1280,
                height: 720,
                frame_len: 1280 * 720 * 3 / 2
            })
        );
        for c in ["C420", "C420jpeg", "C420paldv", "C420mpeg2"] {
            let got = header(&format!("YUV4MPEG2 W5 H3 F25:1 {c}\n")).unwrap();
            assert_eq!(got.frame_len, 15 + 2 * 3 * 2, "{c}");
        }
        // No colourspace means C420, as ffmpeg takes it.
        assert!(header("YUV4MPEG2 W64 H48\n").is_ok());
    }

    #[test]
    fn other_colourspaces_are_refused_by_name() {
        for (c, what) in [
            ("C444", "C444 (4:4:4)"),
            ("C422", "C422 (4:2:2)"),
            ("Cmono", "Cmono (greyscale)"),
            ("C420p10", "C420p10 (4:2:0 of more than 8 bits)"),
            ("C411", "C411 (a colourspace camwire does not know)"),
        ] {
            let got = header(&format!("YUV4MPEG2 W64 H48 F30:1 {c}\n"));
            assert_eq!(got, Err(HeaderError::NotI420(what.into())), "{c}");
        }
        let line = HeaderError::NotI420("C444 (4:4:4)".into()).to_string();
        assert!(line.starts_with("is C444 (4:4:4), not I420"), "{line}");
    }

    #[test]
    fn broken_headers_say_what_is_wrong() {
        assert_eq!(header("RIFF....WAVE"), Err(HeaderError::NotY4m));
        assert_eq!(header(""), Err(HeaderError::NotY4m));
        assert!(matches!(
            header("YUV4MPEG2 W64 H4"),
            Err(HeaderError::Unreadable(_))
        ));
        assert!(matches!(
            header("YUV4MPEG2 W64 F30:1\n"),
            Err(HeaderError::Unreadable(_))
        ));
        assert!(matches!(
            header("YUV4MPEG2 Wx H48\n"),
            Err(HeaderError::Unreadable(_))
        ));
        assert!(matches!(
            header("YUV4MPEG2 W0 H48\n"),
            Err(HeaderError::Unreadable(_))
        ));
    }

    #[test]
    fn sizes_beyond_the_limits_are_refused_before_any_frame() {
        assert_eq!(
            header("YUV4MPEG2 W7681 H2 C420\n"),
            Err(HeaderError::TooLarge("7681x2".into()))
        );
        // Too many bytes a frame: refused by the y4m crate's limit.
        assert_eq!(
            header("YUV4MPEG2 W100000 H100000\n"),
            Err(HeaderError::TooLarge("100000x100000".into()))
        );
        assert!(header("YUV4MPEG2 W7680 H4320\n").is_ok());
    }

    #[test]
    fn frame_lines_may_carry_parameters() {
        assert!(is_frame_line(b"FRAME"));
        assert!(is_frame_line(b"FRAME Ixyz Xseq=3"));
        assert!(!is_frame_line(b"FRAMES"));
        assert!(!is_frame_line(b"YUV4MPEG2 W2 H2"));
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_writer_writes_a_header_once_and_each_frame_with_its_seq() {
        let out = Shared::default();
        let mut writer = Y4mWriter::new(out.clone(), "test");
        // A 2x2 picture with rows padded to 4 bytes.
        let y = [1, 2, 0, 0, 3, 4, 0, 0];
        let picture = Decoded::I420(Yuv {
            y: &y,
            u: &[5, 0],
            v: &[6, 0],
            y_stride: 4,
            uv_stride: 2,
            width: 2,
            height: 2,
        });
        writer.write(7, &picture, 2, 2).unwrap();
        writer.write(9, &picture, 2, 2).unwrap();
        let mut want = header_line(2, 2).into_bytes();
        want.extend_from_slice(b"FRAME Xseq=7\n\x01\x02\x03\x04\x05\x06");
        want.extend_from_slice(b"FRAME Xseq=9\n\x01\x02\x03\x04\x05\x06");
        assert_eq!(*out.0.lock().unwrap(), want);
        // What it wrote is a clip camwire itself plays.
        assert_eq!(parse_header(&want).unwrap().frame_len, 6);
        let other = writer.write(10, &picture, 4, 2).unwrap_err().to_string();
        assert!(
            other.contains("is now 4x2") && other.contains("is 2x2"),
            "{other}"
        );
    }

    #[test]
    fn rgb_pictures_are_converted_and_a_closed_pipe_is_its_own_end() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
        let grey = [128u8; 4 * 2 * 3];
        let mut writer = Y4mWriter::new(Closed, "standard output");
        let got = writer.write(0, &Decoded::Rgb(&grey), 4, 2);
        assert!(matches!(got, Err(RecordError::Closed(_))), "{got:?}");
        let out = Shared::default();
        let mut writer = Y4mWriter::new(out.clone(), "test");
        writer.write(0, &Decoded::Rgb(&grey), 4, 2).unwrap();
        let written = out.0.lock().unwrap().clone();
        let frame = &written[header_line(4, 2).len() + "FRAME Xseq=0\n".len()..];
        assert_eq!(frame.len(), i420_len(4, 2));
        // Grey 128 is luma 126 in limited range; chroma is 128.
        assert!(
            frame[..8].iter().all(|&y| y.abs_diff(126) <= 2),
            "{frame:?}"
        );
        assert!(
            frame[8..].iter().all(|&c| c.abs_diff(128) <= 1),
            "{frame:?}"
        );
    }
}
