//! A YUV4MPEG2 (I420) clip as a [`FrameSource`], played in a loop.
//!
//! The clip is checked whole at start, before the sender listens: its
//! header (see `yuv4mpeg`), then every frame's line and that the last
//! frame is all there, by seeking from one frame to the next without
//! reading the pictures. That leaves an index of where each frame's
//! planes begin. While streaming, each frame is read from the file into
//! one reused buffer, so a clip of any length costs one frame of memory.
//!
//! The frame with sequence number k is the clip's frame k mod its length:
//! capture numbers frames from 0 and publishes every frame it takes (a
//! picture the encoder skips is handed back, [`FrameSource::unsent`]), so
//! the sources a sender opens (one each time someone starts watching)
//! share one count of the frames handed out and go on where the last
//! stopped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};

use crate::limits;
use crate::media::source::{
    Captured, Frame, FrameSource, Pacer, SourceConfig, SourceFactory, now_us,
};
use crate::media::yuv4mpeg::{self, Header};
use crate::wire::StreamInfo;

/// A clip that has been checked: its header and where each frame's
/// planes begin in the file.
#[derive(Debug)]
pub struct Clip {
    path: PathBuf,
    header: Header,
    frames: Vec<u64>,
}

impl Clip {
    /// Checks the clip at `path` whole, without reading its pictures.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display();
        let file = File::open(path).with_context(|| format!("could not open the clip {name}"))?;
        let file_len = file
            .metadata()
            .with_context(|| format!("could not read the clip {name}"))?
            .len();
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        read_line(&mut reader, &mut line).with_context(|| format!("could not read {name}"))?;
        let header = yuv4mpeg::parse_header(&line).map_err(|e| anyhow!("{name} {e}"))?;
        let start = line.len() as u64;
        let frames = index_frames(&mut reader, start, file_len, header.frame_len)
            .map_err(|e| anyhow!("{name} {e}"))?;
        Ok(Clip {
            path: path.to_path_buf(),
            header,
            frames,
        })
    }

    /// Its header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// How many frames it has (at least one).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether it has no frames; never, once opened.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Reads one line of at most [`limits::CLIP_LINE_LIMIT`] bytes into
/// `line` (cleared first), with its newline if it has one.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    line.clear();
    reader
        .take(limits::CLIP_LINE_LIMIT as u64 + 1)
        .read_until(b'\n', line)
}

/// Where each frame's planes begin, for frames of `frame_len` bytes
/// following the header (which ends at `start`) in a file of `file_len`
/// bytes. Each error reads after the clip's name.
fn index_frames(
    reader: &mut (impl BufRead + Seek),
    start: u64,
    file_len: u64,
    frame_len: usize,
) -> Result<Vec<u64>> {
    let mut frames = Vec::new();
    let mut line = Vec::new();
    let mut at = start;
    while at < file_len {
        let n = frames.len();
        if n == limits::MAX_CLIP_FRAMES {
            bail!("has more than {} frames", limits::MAX_CLIP_FRAMES);
        }
        reader.seek(SeekFrom::Start(at))?;
        read_line(reader, &mut line)?;
        let whole = line.strip_suffix(b"\n");
        if !whole.is_some_and(yuv4mpeg::is_frame_line) {
            bail!(
                "has no FRAME line where frame {n} should begin (byte {at}): the clip is damaged or cut short"
            );
        }
        let planes = at + line.len() as u64;
        let have = file_len - planes;
        if have < frame_len as u64 {
            bail!(
                "ends inside frame {n}: {have} of its {frame_len} bytes are there (the clip is cut short)"
            );
        }
        frames.push(planes);
        at = planes + frame_len as u64;
    }
    if frames.is_empty() {
        bail!("has no frames, only a header");
    }
    Ok(frames)
}

/// Checks the clip at `path` now, and says how to open it on the capture
/// thread: the stream has the clip's size, whatever `config` asks.
pub fn prepare(path: &Path, config: &SourceConfig) -> Result<(StreamInfo, SourceFactory)> {
    let clip = Arc::new(Clip::open(path)?);
    let Header { width, height, .. } = clip.header;
    let info = StreamInfo {
        width,
        height,
        codec: config.codec,
    };
    info.validate().map_err(|e| {
        let codec = info.codec.name();
        anyhow!(
            "{} is {width}x{height}, which {codec} cannot stream: {e}",
            path.display()
        )
    })?;
    let handed_out = Arc::new(AtomicU64::new(0));
    let fps = config.fps;
    let open: SourceFactory = Box::new(move || {
        let source = ClipSource::open(Arc::clone(&clip), info, fps, Arc::clone(&handed_out))?;
        Ok(Box::new(source) as Box<dyn FrameSource>)
    });
    Ok((info, open))
}

/// A clip being played.
pub struct ClipSource {
    clip: Arc<Clip>,
    file: File,
    info: StreamInfo,
    pacer: Pacer,
    unpaced: bool,
    /// Frames handed out by every source of this clip so far.
    handed_out: Arc<AtomicU64>,
    /// The frame read last; read into again once the encoder has let go.
    buf: Arc<Vec<u8>>,
}

impl ClipSource {
    /// Opens `clip` to play at `fps` (0: unpaced) as a stream of `info`,
    /// going on after the `handed_out` frames other sources of it gave.
    pub fn open(
        clip: Arc<Clip>,
        info: StreamInfo,
        fps: u32,
        handed_out: Arc<AtomicU64>,
    ) -> Result<Self> {
        let file = File::open(&clip.path)
            .with_context(|| format!("could not open the clip {}", clip.path.display()))?;
        Ok(ClipSource {
            clip,
            file,
            info,
            pacer: Pacer::new(fps),
            unpaced: fps == 0,
            handed_out,
            buf: Arc::new(Vec::new()),
        })
    }
}

/// A buffer of `len` bytes to read a frame into: `buf` itself, once
/// nobody else holds it (the encoder has let go of the last frame), else
/// a new one.
fn reuse(buf: &mut Arc<Vec<u8>>, len: usize) -> &mut Vec<u8> {
    if Arc::get_mut(buf).is_none() {
        *buf = Arc::new(Vec::new());
    }
    let own = Arc::get_mut(buf).expect("a buffer nobody else holds");
    own.resize(len, 0);
    own
}

impl FrameSource for ClipSource {
    fn info(&self) -> StreamInfo {
        self.info
    }

    fn unpaced(&self) -> bool {
        self.unpaced
    }

    fn unsent(&mut self) {
        self.handed_out.fetch_sub(1, Ordering::Relaxed);
    }

    fn next_frame(&mut self) -> Result<Frame> {
        self.pacer.wait();
        let count = self.handed_out.fetch_add(1, Ordering::Relaxed);
        let index = (count % self.clip.len() as u64) as usize;
        let buf = reuse(&mut self.buf, self.clip.header.frame_len);
        self.file
            .seek(SeekFrom::Start(self.clip.frames[index]))
            .and_then(|_| self.file.read_exact(buf))
            .with_context(|| {
                let name = self.clip.path.display();
                format!("could not read frame {index} of the clip {name}")
            })?;
        Ok(Frame {
            captured_us: now_us(),
            content: Captured::I420(Arc::clone(&self.buf)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Codec;
    use std::io::Cursor;

    /// A 4x2 clip of `frames` frames, frame i all bytes i, and `tail` after.
    fn clip_bytes(frames: u8, tail: &[u8]) -> Vec<u8> {
        let mut out = b"YUV4MPEG2 W4 H2 F30:1 C420jpeg\n".to_vec();
        for i in 0..frames {
            out.extend_from_slice(if i % 2 == 0 {
                b"FRAME\n"
            } else {
                b"FRAME Ixyz\n"
            });
            out.extend_from_slice(&[i; 12]);
        }
        out.extend_from_slice(tail);
        out
    }

    fn index(bytes: &[u8]) -> Result<Vec<u64>> {
        let start = bytes.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
        index_frames(&mut Cursor::new(bytes), start, bytes.len() as u64, 12)
    }

    /// A file of its own under the system's temporary folder.
    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("camwire-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn config(codec: Codec) -> SourceConfig {
        SourceConfig {
            width: 640,
            height: 480,
            fps: 0,
            codec,
            quality: 80,
            bitrate_kbit: None,
        }
    }

    #[test]
    fn every_frame_is_found_with_or_without_parameters() {
        let frames = index(&clip_bytes(3, b"")).unwrap();
        assert_eq!(frames, [37, 60, 78]);
    }

    #[test]
    fn a_cut_or_damaged_clip_is_refused_saying_where() {
        let cut = index(&clip_bytes(2, b"FRAME\n\x05\x05")).unwrap_err();
        assert_eq!(
            cut.to_string(),
            "ends inside frame 2: 2 of its 12 bytes are there (the clip is cut short)"
        );
        let junk = index(&clip_bytes(1, b"junk\n")).unwrap_err().to_string();
        assert!(
            junk.starts_with("has no FRAME line where frame 1"),
            "{junk}"
        );
        let half_line = index(&clip_bytes(1, b"FRA")).unwrap_err().to_string();
        assert!(
            half_line.starts_with("has no FRAME line where frame 1"),
            "{half_line}"
        );
        let empty = index(&clip_bytes(0, b"")).unwrap_err().to_string();
        assert_eq!(empty, "has no frames, only a header");
    }

    #[test]
    fn the_clip_loops_and_a_reopened_source_goes_on_where_the_last_stopped() {
        let path = temp_file("loop.y4m", &clip_bytes(3, b""));
        let (info, open) = prepare(&path, &config(Codec::Raw)).unwrap();
        assert_eq!((info.width, info.height), (4, 2), "the clip's size");
        let first_byte = |source: &mut Box<dyn FrameSource>| {
            let Captured::I420(data) = source.next_frame().unwrap().content else {
                panic!("a clip hands out I420");
            };
            assert_eq!(data.len(), 12);
            data[0]
        };
        let mut source = open().unwrap();
        assert!(source.unpaced());
        let seen: Vec<u8> = (0..4).map(|_| first_byte(&mut source)).collect();
        assert_eq!(seen, [0, 1, 2, 0]);
        drop(source);
        // Capture opens the source again when a viewer comes back; the
        // frame numbers go on, and so does the clip.
        let mut again = open().unwrap();
        let seen: Vec<u8> = (0..3).map(|_| first_byte(&mut again)).collect();
        assert_eq!(seen, [1, 2, 0]);
        // A picture the encoder skipped comes again, so numbers still match.
        again.unsent();
        assert_eq!(first_byte(&mut again), 0);
        assert_eq!(first_byte(&mut again), 1);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn bad_clips_are_one_line_naming_the_file() {
        let missing = prepare(Path::new("/nonexistent/clip.y4m"), &config(Codec::Raw));
        let line = format!("{:#}", missing.err().unwrap());
        assert!(
            line.starts_with("could not open the clip /nonexistent/clip.y4m"),
            "{line}"
        );
        let odd = b"YUV4MPEG2 W5 H3 F30:1\nFRAME\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        let path = temp_file("odd.y4m", odd);
        let name = path.display().to_string();
        assert!(
            prepare(&path, &config(Codec::Jpeg)).is_ok(),
            "odd is fine for JPEG"
        );
        let line = format!("{:#}", prepare(&path, &config(Codec::H264)).err().unwrap());
        assert!(
            line.starts_with(&format!("{name} is 5x3, which h264 cannot stream")),
            "{line}"
        );
        std::fs::write(&path, b"YUV4MPEG2 W4 H2 C444\nFRAME\n").unwrap();
        let line = format!("{:#}", prepare(&path, &config(Codec::Raw)).err().unwrap());
        assert!(
            line.starts_with(&format!("{name} is C444 (4:4:4), not I420")),
            "{line}"
        );
        std::fs::remove_file(path).unwrap();
    }
}
