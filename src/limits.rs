//! Every limit and timeout camwire enforces, in one place.

use std::time::Duration;

/// Largest frame width a stream may announce.
pub const MAX_WIDTH: u32 = 7680;

/// Largest frame height a stream may announce.
pub const MAX_HEIGHT: u32 = 4320;

/// The longest and shortest side an H.264 stream may have: OpenH264's
/// limit (level 5.2), 3840x2160 either way round.
pub const MAX_H264_SIDES: (u32, u32) = (3840, 2160);

/// The shortest time between two keyframes made because a viewer asked
/// (it joined, or missed a frame others depend on): a joiner waits at
/// most this long for its first picture, and joiners together cannot
/// make the stream all keyframes.
pub const KEYFRAME_GAP: Duration = Duration::from_millis(750);

/// How often the sender makes a safety keyframe while every viewer's link
/// has room for one (the bitrate at `--bitrate`, every viewer taking every
/// frame). Where a link is the limit, a keyframe would stall it, so only
/// the encoder's own come, every `codec::h264::KEYFRAME_PERIOD_SECONDS`.
pub const ROOMY_KEYFRAME_PERIOD: Duration = Duration::from_secs(10);

/// The longest one viewer waits between two requests for a keyframe: one
/// that keeps asking (a link that cannot carry even the base layer) waits
/// twice as long each time, from [`KEYFRAME_GAP`] up to this. Well under
/// [`SENDER_SILENCE_TIMEOUT`], so that a viewer taking keyframes only is
/// never taken for a dead sender.
pub const MAX_KEYFRAME_BACKOFF: Duration = Duration::from_secs(3);

/// Largest body accepted before the opening exchange is complete.
pub const HANDSHAKE_MESSAGE_LIMIT: usize = 1024;

/// Bytes a frame message may carry beyond its pixel data (fields and tags).
pub const FRAME_OVERHEAD: usize = 64;

/// Slack allowed for a JPEG frame over the size of the raw pixels, for the
/// rare image (noise at high quality) that JPEG makes larger.
pub const JPEG_SLACK: usize = 64 * 1024;

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the peer may take to complete the opening exchange.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a viewer may block a write before the sender drops it.
pub const VIEWER_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop rests after a failure such as running out of
/// file descriptors, so that it does not spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Idle time before TCP keepalive probes start on a connection.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// Time between TCP keepalive probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// How long a receiver waits for the next message before it says the
/// sender or the network stopped.
pub const SENDER_SILENCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Time any message of a stream may take to arrive once its first byte
/// has, however short the message.
pub const MESSAGE_GRACE: Duration = Duration::from_secs(5);

/// The slowest a started message may arrive beyond [`MESSAGE_GRACE`], in
/// bytes a second (128 kbit/s): a 40 KB keyframe gets 2.5 s more, a raw
/// 1280x720 frame nearly three minutes, and a peer that trickles a byte
/// every few seconds is cut off after about [`MESSAGE_GRACE`].
pub const MESSAGE_FLOOR_RATE: u64 = 16 * 1024;

/// The largest step between two frames' sequence numbers a receiver
/// believes: 2^32 frames, seven weeks of missed frames at 1000 a second.
/// A larger jump is a protocol error.
pub const MAX_SEQ_GAP: u64 = 1 << 32;

/// Characters of a peer's error text shown to the user.
pub const MAX_REASON_CHARS: usize = 300;

/// Unsent bytes the kernel may queue on a sender's socket
/// (TCP_NOTSENT_LOWAT) for raw and JPEG: enough to keep a fast link busy,
/// too little to hold a backlog of stale frames.
pub const UNSENT_LIMIT: usize = 128 * 1024;

/// For H.264 the kernel may queue what the stream's bitrate carries in
/// this long, at least [`MIN_UNSENT_LIMIT`]: 12.5 KB at 2 Mbit/s, a few
/// frames; the hub holds the rest (see [`SOFT_LAG`]).
pub const UNSENT_TIME: Duration = Duration::from_millis(50);

/// The smallest unsent limit, so that a low bitrate does not make a
/// frame take several writes.
pub const MIN_UNSENT_LIMIT: usize = 8 * 1024;

/// Frames of an inter-frame stream the hub keeps for viewers that are
/// a little behind: a second at 30 fps. Raw and JPEG keep only the newest.
pub const BACKLOG_FRAMES: usize = 30;

/// A viewer whose next frame is at most this much older than the newest
/// gets every frame, in order.
pub const SOFT_LAG: Duration = Duration::from_millis(100);

/// A viewer further behind than [`SOFT_LAG`] leaves out the frames
/// nothing depends on (temporal layers above 0) and takes base-layer
/// frames up to this much older than the newest; beyond that it waits for
/// a keyframe.
pub const HARD_LAG: Duration = Duration::from_millis(400);

/// A receiver warns of the first undecodable frame and then of every this
/// many, so a camera that sends broken frames does not flood the console.
pub const DECODE_WARNING_EVERY: u64 = 100;

/// Viewers a sender serves at once unless told otherwise
/// (`--max-viewers`); the next one is told the sender is full.
pub const DEFAULT_MAX_VIEWERS: u64 = 16;

/// How long `receiver --retry` waits between connection attempts.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The highest `--fps`: beyond any camera; `--fps 0` goes as fast as
/// viewers take frames.
pub const MAX_FPS: u32 = 1000;

/// Codes a receiver asks for at the terminal before it gives up: a
/// mistyped one is asked again. Each is a new connection and one guess
/// at the sender, well within [`GUESS_BURST`].
pub const CODE_TRIES: u32 = 3;

/// Attempts at the code one source (an IPv4 address, an IPv6 /64) may
/// make in a burst before it is rate-limited.
pub const GUESS_BURST: u32 = 5;

/// Time that earns one source one more attempt once its burst is spent:
/// at most about 8,650 guesses a day from one source.
pub const GUESS_INTERVAL: Duration = Duration::from_secs(10);

/// Attempts at the code all sources together may make in a burst.
pub const GLOBAL_GUESS_BURST: u32 = 20;

/// Time that earns everyone together one more attempt: at most about
/// 86,400 guesses a day however many machines guess.
pub const GLOBAL_GUESS_INTERVAL: Duration = Duration::from_secs(1);

/// Sources whose guesses a sender remembers at once; beyond that, new
/// sources are refused until some buckets have filled up again.
pub const MAX_GUESS_SOURCES: usize = 4096;

/// Connections a sender lets be in their opening exchange at once; more are
/// closed at once, so a flood of idle connections cannot use up threads.
pub const MAX_OPENING: usize = 32;

/// Of those, connections from one address: one machine holding idle
/// connections open cannot lock out everyone else.
pub const MAX_OPENING_PER_ADDRESS: usize = 8;

/// Connections refused for want of a place that a sender tells why at
/// once; more are closed without a word.
pub const MAX_TURNING_AWAY: usize = 8;

/// How long a sender waits for a refused connection's `Hello`, and to
/// write it the answer, before closing it.
pub const TURN_AWAY_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes of a message a private link seals before it writes them: small
/// enough to stay in the processor's cache, so a frame goes out while the
/// rest of it is sealed, without a frame-sized buffer per viewer.
pub const SEAL_CHUNK: usize = 256 * 1024;

/// How long camwire waits for the person to answer macOS's question
/// whether it may use the camera, before it says where to allow it.
pub const CAMERA_ACCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines a console holds for a terminal that is not taking them; more are
/// counted and left out, so that no thread ever waits for the terminal.
pub const CONSOLE_QUEUE: usize = 256;

/// Lines of a run of alike console lines (a storm of connections turned
/// away) written before the rest are only counted.
pub const FOLD_SHOWN: usize = 5;

/// How long a console counts folded lines before it writes the count, and
/// how long a run of alike lines lasts without a new one.
pub const FOLD_WINDOW: Duration = Duration::from_secs(1);

/// How long a command waits for its console to write what it holds before
/// it prints a line of its own (its error line at exit, a question): a
/// terminal nobody reads cannot keep it from exiting.
pub const CONSOLE_FLUSH_WAIT: Duration = Duration::from_secs(1);

/// Longest line of a YUV4MPEG2 clip (its header, a frame's line): the
/// `y4m` crate's own limit for a header.
pub const CLIP_LINE_LIMIT: usize = 1024;

/// Most frames a clip may have: its index (a file offset per frame) is
/// then at most 8 MiB, and a clip of tiny frames cannot make it larger.
/// 2^20 frames are 9.7 hours at 30 fps.
pub const MAX_CLIP_FRAMES: usize = 1 << 20;

/// The port a receiver dials when `--connect` names a host without one,
/// and the sender's default.
pub const DEFAULT_PORT: u16 = 9999;

/// How long a receiver listens for senders on the LAN (`--list`, no
/// `--connect`, or a sender's name): senders answer within about a
/// second (they probe for their name for 750 ms first).
pub const DISCOVERY_WAIT: Duration = Duration::from_secs(2);

/// The most senders a receiver keeps from one look around the LAN, so
/// that a network full of announcements cannot grow its list.
pub const MAX_SENDERS_FOUND: usize = 64;

/// The longest name a sender may announce, in bytes: one DNS label.
pub const MAX_NAME_BYTES: usize = 63;

/// How long a sender that stops waits for the mDNS daemon to say goodbye
/// on the LAN (so that receivers forget it at once) and shut down.
pub const ANNOUNCE_GOODBYE_WAIT: Duration = Duration::from_millis(500);
