//! Private mode: a short code both people know, never sent, and every
//! message after the opening sealed.
//!
//! The code goes through SPAKE2 (RustCrypto's `spake2`, as magic-wormhole
//! uses it), so someone who records the exchange cannot test codes offline
//! and an active attacker gets one guess per connection. The shared secret
//! is expanded with HKDF-SHA256 (`ring`) into one AEGIS-128X2 key per
//! direction (the `aegis` crate, which wraps libaegis). Each side proves it
//! holds its key by sealing an empty message over the exchange's
//! transcript; a wrong code fails there, before a single frame. Nonces
//! count messages in each direction, so a replayed, reordered or altered
//! message fails to open.
//!
//! Why AEGIS and not AES-GCM: raw video seals megabytes per frame, and on
//! the processors camwire runs on AEGIS-128X2 seals about four times as
//! fast as `ring`'s AES-256-GCM (20 against 5 GB/s here; see
//! `examples/codec_speed.rs`), which decides whether encryption costs a
//! third of the frame rate or a tenth. AEGIS-128X2 is specified by the IRTF
//! CFRG (draft-irtf-cfrg-aegis-aead): a multi-lane form of AEGIS-128,
//! which the CAESAR competition chose for high-performance use.

use std::fmt;

use aegis::aegis128x2::{Aegis128X2, Encryptor};
use ring::hkdf::{self, HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use spake2::{Ed25519Group, Identity, Password, Spake2};

/// Digits in a code the sender makes up: 10^10 possibilities.
pub const CODE_DIGITS: usize = 10;

/// Bytes an AEAD tag adds to every sealed message.
pub const TAG_LEN: usize = 16;

/// Bytes in an AEGIS-128X2 key.
const KEY_LEN: usize = 16;

/// Bytes in an AEGIS-128X2 nonce.
const NONCE_LEN: usize = 16;

/// One direction's key.
type Key = [u8; KEY_LEN];

/// SPAKE2 identity shared by both sides.
const IDENTITY: &[u8] = b"camwire";

/// Why private mode failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrivateError {
    /// The other side does not know the same code.
    #[error("wrong code")]
    WrongCode,
    /// A sealed message was altered, replayed or cut.
    #[error("a message failed its integrity check: it was altered in transit")]
    Tampered,
    /// The other side's SPAKE2 message is not valid.
    #[error("invalid key exchange message")]
    BadExchange,
}

/// A code as people type it, kept as its digits and letters only.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// Normalizes `text`: case and anything but letters and digits ignored.
    pub fn new(text: &str) -> Option<Self> {
        let kept: String = text
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        (!kept.is_empty()).then_some(Code(kept))
    }

    /// How many codes of this one's kind there are: `10^n` for `n` digits,
    /// `36^n` for `n` letters and digits.
    pub fn possible(&self) -> f64 {
        let symbols: f64 = match self.0.bytes().all(|b| b.is_ascii_digit()) {
            true => 10.0,
            false => 36.0,
        };
        symbols.powi(self.0.len().min(i32::MAX as usize) as i32)
    }

    /// How many characters it has (digits and letters).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has none; never, for a code made by [`Code::new`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A fresh random code of [`CODE_DIGITS`] digits.
    pub fn random() -> Self {
        let rng = SystemRandom::new();
        let mut digits = String::with_capacity(CODE_DIGITS);
        while digits.len() < CODE_DIGITS {
            let mut byte = [0u8; 1];
            rng.fill(&mut byte).expect("the system random source works");
            // Reject 250..=255 so every digit is equally likely.
            if byte[0] < 250 {
                digits.push(char::from(b'0' + byte[0] % 10));
            }
        }
        Code(digits)
    }
}

impl fmt::Display for Code {
    /// Groups of three or four, easy to read out: `482-1039-755`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        if s.len() == CODE_DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
            write!(f, "{}-{}-{}", &s[..3], &s[3..7], &s[7..])
        } else {
            f.write_str(s)
        }
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(..)")
    }
}

/// Bytes in a SPAKE2 message over Ed25519: a side byte and a point.
const EXCHANGE_LEN: usize = 33;

/// The side byte of a symmetric SPAKE2 message (`S`).
const SYMMETRIC_SIDE: u8 = b'S';

/// Whether `message` has the shape of a symmetric SPAKE2 message: its
/// length, its side byte and a point whose y coordinate is below the
/// field's prime. Checked before any curve arithmetic, so a stranger's
/// garbage costs the sender nothing but this.
pub fn well_formed(message: &[u8]) -> bool {
    let Some((&side, point)) = message.split_first() else {
        return false;
    };
    message.len() == EXCHANGE_LEN && side == SYMMETRIC_SIDE && below_field_prime(point)
}

/// Whether a 32-byte little-endian y coordinate (its top bit being the
/// sign of x) is below 2^255 - 19, as a canonical encoding is.
fn below_field_prime(point: &[u8]) -> bool {
    let (low, rest) = point.split_first().expect("32 bytes");
    let (top, middle) = rest.split_last().expect("32 bytes");
    let at_least_prime = top & 0x7f == 0x7f && middle.iter().all(|&b| b == 0xff) && *low >= 0xed;
    !at_least_prime
}

/// One side's half-done key exchange.
pub struct Exchange {
    state: Spake2<Ed25519Group>,
    outbound: Vec<u8>,
}

impl Exchange {
    /// Starts an exchange for `code`.
    pub fn start(code: &Code) -> Self {
        let (state, outbound) = Spake2::<Ed25519Group>::start_symmetric(
            &Password::new(code.0.as_bytes()),
            &Identity::new(IDENTITY),
        );
        Exchange { state, outbound }
    }

    /// The message to send to the other side.
    pub fn message(&self) -> &[u8] {
        &self.outbound
    }

    /// Finishes with the other side's message; `role` says which side this
    /// is, so each gets the right key for each direction.
    pub fn finish(self, inbound: &[u8], role: Role) -> Result<Keys, PrivateError> {
        let secret = self
            .state
            .finish(inbound)
            .map_err(|_| PrivateError::BadExchange)?;
        let (viewer_msg, sender_msg) = match role {
            Role::Viewer => (&self.outbound[..], inbound),
            Role::Sender => (inbound, &self.outbound[..]),
        };
        let transcript = [b"camwire confirm".as_slice(), viewer_msg, sender_msg].concat();
        let to_viewer = derive(&secret, b"camwire v2 sender to viewer");
        let to_sender = derive(&secret, b"camwire v2 viewer to sender");
        let (seal, open) = match role {
            Role::Viewer => (to_sender, to_viewer),
            Role::Sender => (to_viewer, to_sender),
        };
        Ok(Keys {
            sealer: Sealer {
                key: seal,
                count: 0,
            },
            opener: Opener {
                key: open,
                count: 0,
            },
            transcript,
        })
    }
}

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The one that watches.
    Viewer,
    /// The one with the camera.
    Sender,
}

/// The length of what HKDF makes: one key.
struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

fn derive(secret: &[u8], info: &'static [u8]) -> Key {
    let infos = [info];
    let mut key = [0u8; KEY_LEN];
    Salt::new(HKDF_SHA256, &[])
        .extract(secret)
        .expand(&infos, KeyLen)
        .and_then(|okm| okm.fill(&mut key))
        .expect("16 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Both directions' keys after a finished exchange.
pub struct Keys {
    /// Seals what this side sends.
    pub sealer: Sealer,
    /// Opens what this side receives.
    pub opener: Opener,
    transcript: Vec<u8>,
}

impl Keys {
    /// This side's proof that it holds the key: an empty message sealed over
    /// the exchange's transcript.
    pub fn confirmation(&mut self) -> Vec<u8> {
        let mut tag = Vec::with_capacity(TAG_LEN);
        self.sealer.seal_with(&self.transcript, &mut tag);
        tag
    }

    /// Checks the other side's proof; a mismatch means a different code.
    pub fn check(&mut self, confirmation: &[u8]) -> Result<(), PrivateError> {
        let mut copy = confirmation.to_vec();
        self.opener
            .open_with(&self.transcript, &mut copy)
            .map(|_| ())
            .map_err(|_| PrivateError::WrongCode)
    }
}

/// Seals messages in one direction, counting them for nonces.
pub struct Sealer {
    key: Key,
    count: u64,
}

impl Sealer {
    /// Starts sealing one message piece by piece, for a writer that sends
    /// each piece before it seals the next.
    pub fn start(&mut self) -> Sealing {
        Sealing(self.next_cipher().encryptor(&[]))
    }

    fn seal_with(&mut self, aad: &[u8], buf: &mut Vec<u8>) {
        let tag = self.next_cipher().encrypt_in_place(buf, aad);
        buf.extend_from_slice(&tag);
    }

    fn next_cipher(&mut self) -> Aegis128X2<TAG_LEN> {
        Aegis128X2::new(&self.key, &next_nonce(&mut self.count))
    }
}

/// One message being sealed: each piece of plaintext becomes as many bytes
/// of ciphertext, and the tag comes last.
pub struct Sealing(Encryptor<TAG_LEN>);

impl Sealing {
    /// Seals the next piece of the message into `out`, of the same length.
    pub fn update(&mut self, plain: &[u8], out: &mut [u8]) {
        self.0.update(plain, out);
    }

    /// The tag, to send after the last piece.
    pub fn finish(self) -> [u8; TAG_LEN] {
        self.0.finalize()
    }
}

/// Opens messages from one direction, expecting them in order.
pub struct Opener {
    key: Key,
    count: u64,
}

impl Opener {
    /// Opens `buf` in place and returns the plaintext part of it.
    pub fn open<'a>(&mut self, buf: &'a mut [u8]) -> Result<&'a mut [u8], PrivateError> {
        self.open_with(&[], buf)
    }

    fn open_with<'a>(
        &mut self,
        aad: &[u8],
        buf: &'a mut [u8],
    ) -> Result<&'a mut [u8], PrivateError> {
        // The nonce is used up even by a message that fails to open.
        let cipher = Aegis128X2::<TAG_LEN>::new(&self.key, &next_nonce(&mut self.count));
        let Some(plain_len) = buf.len().checked_sub(TAG_LEN) else {
            return Err(PrivateError::Tampered);
        };
        let (plain, tag) = buf.split_at_mut(plain_len);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("split at the tag's length");
        cipher
            .decrypt_in_place(plain, tag, aad)
            .map_err(|_| PrivateError::Tampered)?;
        Ok(plain)
    }
}

/// The nonce for message number `count` (then counts it): unique for as
/// long as the key lives, which is one connection.
fn next_nonce(count: &mut u64) -> [u8; NONCE_LEN] {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[NONCE_LEN - 8..].copy_from_slice(&count.to_be_bytes());
    *count += 1;
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(viewer_code: &str, sender_code: &str) -> (Keys, Keys) {
        let viewer = Exchange::start(&Code::new(viewer_code).unwrap());
        let sender = Exchange::start(&Code::new(sender_code).unwrap());
        let (v_msg, s_msg) = (viewer.message().to_vec(), sender.message().to_vec());
        (
            viewer.finish(&s_msg, Role::Viewer).unwrap(),
            sender.finish(&v_msg, Role::Sender).unwrap(),
        )
    }

    /// `plain` sealed as one message, the way a link seals it.
    fn seal_whole(sealer: &mut Sealer, plain: &[u8]) -> Vec<u8> {
        let mut sealing = sealer.start();
        let mut out = vec![0; plain.len()];
        sealing.update(plain, &mut out);
        out.extend_from_slice(&sealing.finish());
        out
    }

    #[test]
    fn same_code_confirms_and_seals_both_ways() {
        let (mut viewer, mut sender) = pair("482-1039-755", "4821039755");
        let proof = sender.confirmation();
        assert_eq!(viewer.check(&proof), Ok(()));
        let proof = viewer.confirmation();
        assert_eq!(sender.check(&proof), Ok(()));
        let mut msg = seal_whole(&mut sender.sealer, b"frame");
        assert_eq!(msg.len(), 5 + TAG_LEN);
        assert_eq!(viewer.opener.open(&mut msg).unwrap(), b"frame");
    }

    #[test]
    fn wrong_code_fails_confirmation_on_both_sides() {
        let (mut viewer, mut sender) = pair("111-1111-111", "222-2222-222");
        let proof = sender.confirmation();
        assert_eq!(viewer.check(&proof), Err(PrivateError::WrongCode));
        let proof = viewer.confirmation();
        assert_eq!(sender.check(&proof), Err(PrivateError::WrongCode));
    }

    #[test]
    fn altered_or_replayed_messages_fail() {
        let (mut viewer, mut sender) = pair("1", "1");
        let mut first = seal_whole(&mut sender.sealer, b"one");
        let replay = first.clone();
        first[0] ^= 1;
        assert_eq!(
            viewer.opener.open(&mut first.clone()),
            Err(PrivateError::Tampered)
        );
        // The failed attempt used up nonce 0, as a real receiver would stop.
        let mut again = replay;
        assert_eq!(viewer.opener.open(&mut again), Err(PrivateError::Tampered));
    }

    #[test]
    fn a_message_sealed_in_pieces_opens_as_one() {
        let (mut viewer, mut sender) = pair("7", "7");
        let mut sealing = sender.sealer.start();
        let mut sealed = Vec::new();
        for piece in [&b"head"[..], b"", b"pixels"] {
            let mut out = vec![0; piece.len()];
            sealing.update(piece, &mut out);
            sealed.extend_from_slice(&out);
        }
        sealed.extend_from_slice(&sealing.finish());
        assert_eq!(viewer.opener.open(&mut sealed).unwrap(), b"headpixels");
        let mut whole = seal_whole(&mut sender.sealer, b"second");
        assert_eq!(viewer.opener.open(&mut whole).unwrap(), b"second");
    }

    #[test]
    fn a_body_shorter_than_a_tag_is_tampered_and_uses_its_nonce() {
        let (mut viewer, mut sender) = pair("7", "7");
        assert_eq!(
            viewer.opener.open(&mut [0u8; TAG_LEN - 1]),
            Err(PrivateError::Tampered)
        );
        let mut msg = seal_whole(&mut sender.sealer, b"late");
        assert_eq!(viewer.opener.open(&mut msg), Err(PrivateError::Tampered));
    }

    #[test]
    fn only_spake2_shaped_messages_are_well_formed() {
        let real = Exchange::start(&Code::new("1").unwrap()).message().to_vec();
        assert!(well_formed(&real));
        assert!(!well_formed(&real[..32]), "short");
        assert!(!well_formed(&[real.clone(), vec![0]].concat()), "long");
        assert!(!well_formed(&[]));
        let mut other_side = real.clone();
        other_side[0] = b'A';
        assert!(!well_formed(&other_side));
        let mut prime = vec![SYMMETRIC_SIDE, 0xed];
        prime.extend([0xff; 30]);
        prime.push(0x7f);
        assert!(!well_formed(&prime), "y = p is not canonical");
        prime[1] = 0xec;
        assert!(well_formed(&prime), "y = p - 1 is");
        prime[1] = 0xff;
        prime[32] = 0xff;
        assert!(!well_formed(&prime), "the sign bit does not hide y >= p");
    }

    #[test]
    fn codes_are_normalized_and_random_ones_read_well() {
        assert_eq!(Code::new(" 482 1039-755 "), Code::new("4821039755"));
        assert!(Code::new("--").is_none());
        let code = Code::random();
        let shown = code.to_string();
        assert_eq!(shown.len(), CODE_DIGITS + 2, "{shown}");
        assert_eq!(Code::new(&shown), Some(code));
        assert_ne!(Code::random(), Code::random());
    }
}
