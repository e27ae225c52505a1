//! Every limit and timeout camwire enforces, in one place.

use std::time::Duration;

/// Largest frame width a stream may announce.
pub const MAX_WIDTH: u32 = 7680;

/// Largest frame height a stream may announce.
pub const MAX_HEIGHT: u32 = 4320;

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

/// Characters of a peer's error text shown to the user.
pub const MAX_REASON_CHARS: usize = 300;

/// Unsent bytes the kernel may queue on a sender's socket
/// (TCP_NOTSENT_LOWAT): enough to keep a fast link busy, too little to
/// hold a backlog of stale frames.
pub const UNSENT_LIMIT: usize = 128 * 1024;

/// A receiver warns of the first undecodable frame and then of every this
/// many, so a camera that sends broken frames does not flood the console.
pub const DECODE_WARNING_EVERY: u64 = 100;

/// How long `receiver --retry` waits between connection attempts.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Wrong codes a private sender accepts in a burst before rate-limiting.
pub const GUESS_BURST: u32 = 5;

/// Time that earns one more attempt at a code once the burst is spent.
pub const GUESS_INTERVAL: Duration = Duration::from_secs(1);

/// Connections a sender lets be in their opening exchange at once; more are
/// closed at once, so a flood of idle connections cannot use up threads.
pub const MAX_OPENING: usize = 32;

/// Of those, connections from one address: one machine holding idle
/// connections open cannot lock out everyone else.
pub const MAX_OPENING_PER_ADDRESS: usize = 8;

/// Bytes of a message a private link seals before it writes them: small
/// enough to stay in the processor's cache, so a frame goes out while the
/// rest of it is sealed, without a frame-sized buffer per viewer.
pub const SEAL_CHUNK: usize = 256 * 1024;

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
