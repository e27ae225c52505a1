//! Webcam MJPEG frames that leave out their Huffman tables.
//!
//! Many UVC webcams send each frame as a JPEG image with no DHT segment: by
//! the MJPEG (AVI1) convention the decoder is to use the standard tables of
//! JPEG (ITU-T T.81) Annex K.3. Decoders of still images, zune-jpeg among
//! them, refuse such a frame, so camwire inserts those tables itself.
//!
//! A JPEG image starts with SOI (`FF D8`); then come marker segments, each a
//! marker (`FF` and a code, after any number of `FF` fill bytes) and a
//! 2-byte big-endian length that counts itself but not the marker; the
//! first SOS (`FF DA`) segment starts the entropy-coded data:
//!
//! ```text
//! FF D8 | FF E0 len APP0 ... | FF DB len DQT ... | FF C0 len SOF0 ... | FF DA len SOS ... | scan data ...
//! ```
//!
//! Only the segments before the first SOS are read; nothing here allocates
//! from a length inside the data.

use std::borrow::Cow;
use std::iter;
use std::sync::Arc;

/// Whether `data` is a JPEG image with a DHT segment before its first SOS.
///
/// False too for data whose headers cannot be read up to a SOS.
pub fn has_huffman_tables(data: &[u8]) -> bool {
    headers(data) == Headers::WithTables
}

/// `data` with [`STANDARD_TABLES`] inserted before its first SOS when it
/// has no DHT there; `data` itself, borrowed, when it has one or its
/// headers cannot be read.
pub fn with_standard_tables(data: &[u8]) -> Cow<'_, [u8]> {
    match spliced(data) {
        Some(pieces) => Cow::Owned(pieces.concat()),
        None => Cow::Borrowed(data),
    }
}

/// [`with_standard_tables`] of `data` in a new shared buffer, copied once.
pub fn shared_with_standard_tables(data: &[u8]) -> Arc<[u8]> {
    let Some(pieces) = spliced(data) else {
        return Arc::from(data);
    };
    let len = pieces.iter().map(|p| p.len()).sum();
    let mut shared: Arc<[u8]> = iter::repeat_n(0, len).collect();
    let mut rest = Arc::get_mut(&mut shared).expect("a new Arc is not shared");
    for piece in pieces {
        let (filled, after) = rest.split_at_mut(piece.len());
        filled.copy_from_slice(piece);
        rest = after;
    }
    shared
}

/// The pieces that, one after the other, make `data` with the standard
/// tables inserted (what comes before the first SOS, [`STANDARD_TABLES`],
/// the rest), for a caller that copies them into a buffer of its own.
/// None when [`with_standard_tables`] would leave `data` as it is.
pub fn spliced(data: &[u8]) -> Option<[&[u8]; 3]> {
    let Headers::WithoutTables { sos } = headers(data) else {
        return None;
    };
    let (head, rest) = data.split_at(sos);
    Some([head, &STANDARD_TABLES, rest])
}

/// What the marker segments of an image hold before its first scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Headers {
    /// A DHT segment comes before the first SOS.
    WithTables,
    /// No DHT comes before the first SOS, whose marker starts at `sos`.
    WithoutTables { sos: usize },
    /// Not a JPEG image whose headers can be read up to a SOS: no SOI, a
    /// segment that runs past the end, a stray byte where a marker belongs.
    Unreadable,
}

/// Walks the marker segments of `data` up to the first SOS.
fn headers(data: &[u8]) -> Headers {
    if data.get(..2) != Some(&[0xFF, SOI][..]) {
        return Headers::Unreadable;
    }
    let mut dht = false;
    let mut at = 2;
    loop {
        if data.get(at) != Some(&0xFF) {
            return Headers::Unreadable;
        }
        // Fill bytes: any number of FF may come before a marker's code.
        while data.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let Some(&code) = data.get(at + 1) else {
            return Headers::Unreadable;
        };
        if code == TEM || (RST0..=RST7).contains(&code) {
            at += 2;
            continue;
        }
        let Some(&[high, low]) = data.get(at + 2..at + 4) else {
            return Headers::Unreadable;
        };
        let end = at + 2 + usize::from(u16::from_be_bytes([high, low]));
        if matches!(code, 0x00 | SOI | EOI) || end < at + 4 || end > data.len() {
            return Headers::Unreadable;
        }
        match code {
            SOS if dht => return Headers::WithTables,
            SOS => return Headers::WithoutTables { sos: at },
            DHT => dht = true,
            _ => {}
        }
        at = end;
    }
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DHT: u8 = 0xC4;
const TEM: u8 = 0x01;
const RST0: u8 = 0xD0;
const RST7: u8 = 0xD7;

/// One Huffman table as a DHT segment carries it.
struct Table {
    /// Table class (0: DC, 1: AC) in the high nibble, destination in the low.
    class_and_id: u8,
    /// How many codes there are of each length, 1 to 16 bits.
    counts: [u8; 16],
    /// The symbols, shortest code first.
    symbols: &'static [u8],
}

/// The four tables of Annex K.3: K.3.3.1 (DC) and K.3.3.2 (AC), luminance
/// in destination 0 and chrominance in 1.
const TABLES: [Table; 4] = [
    Table {
        class_and_id: 0x00,
        counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    },
    Table {
        class_and_id: 0x01,
        counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    },
    Table {
        class_and_id: 0x10,
        counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125],
        symbols: &AC_LUMINANCE,
    },
    Table {
        class_and_id: 0x11,
        counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119],
        symbols: &AC_CHROMINANCE,
    },
];

/// The AC luminance symbols (zero run in the high nibble, size in the low)
/// in order of code length: a line for each length from 2 to 15 bits that
/// has codes, then the 125 symbols of 16 bits, all those left, in order.
#[rustfmt::skip]
const AC_LUMINANCE: [u8; 162] = [
    0x01, 0x02,
    0x03,
    0x00, 0x04, 0x11,
    0x05, 0x12, 0x21,
    0x31, 0x41,
    0x06, 0x13, 0x51, 0x61,
    0x07, 0x22, 0x71,
    0x14, 0x32, 0x81, 0x91, 0xA1,
    0x08, 0x23, 0x42, 0xB1, 0xC1,
    0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72,
    0x82,
    0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65,
    0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
    0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA,
    0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9,
    0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2,
    0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
];

/// The AC chrominance symbols, laid out as [`AC_LUMINANCE`]; 119 of 16 bits.
#[rustfmt::skip]
const AC_CHROMINANCE: [u8; 162] = [
    0x00, 0x01,
    0x02,
    0x03, 0x11,
    0x04, 0x05, 0x21, 0x31,
    0x06, 0x12, 0x41, 0x51,
    0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81,
    0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1,
    0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1,
    0x0A, 0x16, 0x24, 0x34,
    0xE1,
    0x25, 0xF1,
    0x17, 0x18, 0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38,
    0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55,
    0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A,
    0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86,
    0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A,
    0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5,
    0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9,
    0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4,
    0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// Bytes of the DHT segment with all four tables, marker included.
pub const STANDARD_TABLES_LEN: usize = tables_len();

/// One DHT segment, marker included, carrying the four standard tables.
pub const STANDARD_TABLES: [u8; STANDARD_TABLES_LEN] = dht_segment();

const fn tables_len() -> usize {
    let mut len = 4;
    let mut t = 0;
    while t < TABLES.len() {
        len += 1 + 16 + TABLES[t].symbols.len();
        t += 1;
    }
    len
}

const fn dht_segment() -> [u8; STANDARD_TABLES_LEN] {
    let mut out = [0; STANDARD_TABLES_LEN];
    let length = (STANDARD_TABLES_LEN - 2) as u16;
    out[0] = 0xFF;
    out[1] = DHT;
    out[2] = (length >> 8) as u8;
    out[3] = length as u8;
    let mut at = 4;
    let mut t = 0;
    while t < TABLES.len() {
        let table = &TABLES[t];
        out[at] = table.class_and_id;
        at += 1;
        let mut i = 0;
        while i < 16 {
            out[at] = table.counts[i];
            at += 1;
            i += 1;
        }
        i = 0;
        while i < table.symbols.len() {
            out[at] = table.symbols[i];
            at += 1;
            i += 1;
        }
        t += 1;
    }
    out
}

/// `jpeg` without any of its DHT segments before the first SOS, as a
/// webcam sends it; written apart from [`headers`] so that tests of it
/// do not build their input with it. Assumes a well-formed image.
#[cfg(test)]
pub(crate) fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    while jpeg[at + 1] != SOS {
        let end = at + 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != DHT {
            out.extend_from_slice(&jpeg[at..end]);
        }
        at = end;
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::media::codec::{Decoder, encode_jpeg};
    use crate::media::source::pattern_rgb;
    use crate::wire::{Codec, FrameKind, StreamInfo};

    const SOS_ONLY: [u8; 6] = [0xFF, SOI, 0xFF, SOS, 0x00, 0x02];

    fn mozjpeg_image() -> Vec<u8> {
        encode_jpeg(96, 64, &pattern_rgb(96, 64, 2), 80).unwrap()
    }

    /// An image from another encoder, in a webcam's 4:2:2 sampling.
    fn jpeg_encoder_image(colour: jpeg_encoder::ColorType) -> (Vec<u8>, u32, u32) {
        let (width, height) = (80, 56);
        let rgb = pattern_rgb(width, height, 1);
        let pixels = match colour {
            jpeg_encoder::ColorType::Luma => rgb.iter().step_by(3).copied().collect(),
            _ => rgb,
        };
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 75);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_1);
        encoder
            .encode(&pixels, width as u16, height as u16, colour)
            .unwrap();
        (out, width, height)
    }

    fn pixels(jpeg: &[u8], width: u32, height: u32) -> Vec<u32> {
        let info = StreamInfo {
            width,
            height,
            codec: Codec::Jpeg,
        };
        let mut out = vec![0; width as usize * height as usize];
        Decoder::new(info)
            .unwrap()
            .decode_into(jpeg, FrameKind::KEY, &mut out)
            .unwrap();
        out
    }

    /// Every Huffman table in the DHT segments before the first SOS, by
    /// class and destination.
    fn tables(jpeg: &[u8]) -> BTreeMap<u8, Vec<u8>> {
        let mut found = BTreeMap::new();
        let mut at = 2;
        while jpeg[at + 1] != SOS {
            let end = at + 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            let mut table = at + 4;
            while jpeg[at + 1] == DHT && table < end {
                let counts = &jpeg[table + 1..table + 17];
                let len = 17 + counts.iter().map(|&c| usize::from(c)).sum::<usize>();
                found.insert(jpeg[table], jpeg[table + 1..table + len].to_vec());
                table += len;
            }
            at = end;
        }
        found
    }

    #[test]
    fn the_tables_are_the_ones_libjpeg_and_jpeg_encoder_write() {
        let ours = tables(&[&[0xFF, SOI][..], &STANDARD_TABLES, &SOS_ONLY[2..]].concat());
        assert_eq!(
            ours.keys().copied().collect::<Vec<_>>(),
            [0x00, 0x01, 0x10, 0x11]
        );
        assert_eq!(tables(&mozjpeg_image()), ours);
        let (other, _, _) = jpeg_encoder_image(jpeg_encoder::ColorType::Rgb);
        assert_eq!(tables(&other), ours);
        assert_eq!(STANDARD_TABLES_LEN, 420);
    }

    #[test]
    fn ac_tables_hold_every_run_and_size_once_in_codes_that_fit() {
        let mut all: Vec<u8> = vec![0x00, 0xF0];
        all.extend((0..16).flat_map(|run| (1..=10).map(move |size| run << 4 | size)));
        all.sort();
        for table in &TABLES {
            let counted: usize = table.counts.iter().map(|&c| usize::from(c)).sum();
            assert_eq!(counted, table.symbols.len());
            // Kraft: the codes fit in 16 bits with the all-ones code unused.
            let space: u32 = (0..16)
                .map(|i| u32::from(table.counts[i]) << (15 - i))
                .sum();
            assert!(space < 1 << 16, "{:#x}", table.class_and_id);
            let mut symbols = table.symbols.to_vec();
            symbols.sort();
            match table.class_and_id >> 4 {
                0 => assert_eq!(symbols, (0..12).collect::<Vec<u8>>()),
                _ => assert_eq!(symbols, all),
            }
        }
    }

    #[test]
    fn an_image_with_tables_has_them_and_a_stripped_one_has_none() {
        let jpeg = mozjpeg_image();
        assert_eq!(headers(&jpeg), Headers::WithTables);
        let stripped = strip_huffman_tables(&jpeg);
        assert!(stripped.len() < jpeg.len());
        let Headers::WithoutTables { sos } = headers(&stripped) else {
            panic!("{:?}", headers(&stripped));
        };
        assert_eq!(stripped[sos..sos + 2], [0xFF, SOS]);
        assert!(!has_huffman_tables(&stripped));
    }

    #[test]
    fn fill_bytes_and_standalone_markers_are_stepped_over() {
        let data = [
            0xFF, SOI, 0xFF, 0xFF, 0xFF, 0xE0, 0x00, 0x02, 0xFF, TEM, 0xFF, RST0, 0xFF, SOS, 0x00,
            0x02,
        ];
        assert_eq!(headers(&data), Headers::WithoutTables { sos: 12 });
    }

    #[test]
    fn a_dht_after_the_sos_does_not_count() {
        let data = [&SOS_ONLY[..], &STANDARD_TABLES].concat();
        assert_eq!(headers(&data), Headers::WithoutTables { sos: 2 });
    }

    #[test]
    fn truncated_headers_are_unreadable() {
        let jpeg = mozjpeg_image();
        let stripped = strip_huffman_tables(&jpeg);
        let Headers::WithoutTables { sos } = headers(&stripped) else {
            panic!("no SOS");
        };
        let sos_end = sos + 2 + usize::from(stripped[sos + 3]);
        for cut in 0..sos_end {
            assert_eq!(
                headers(&stripped[..cut]),
                Headers::Unreadable,
                "cut at {cut}"
            );
            assert!(matches!(
                with_standard_tables(&stripped[..cut]),
                Cow::Borrowed(_)
            ));
        }
        assert!(matches!(
            headers(&stripped[..sos_end]),
            Headers::WithoutTables { .. }
        ));
    }

    #[test]
    fn a_length_past_the_end_or_below_two_is_unreadable() {
        for length in [[0xFF, 0xFF], [0x00, 0x09], [0x00, 0x00], [0x00, 0x01]] {
            let data = [0xFF, SOI, 0xFF, 0xE0, length[0], length[1], 0, 0, 0, 0];
            assert_eq!(headers(&data), Headers::Unreadable, "{length:?}");
        }
    }

    #[test]
    fn garbage_is_unreadable() {
        let cases: [&[u8]; 9] = [
            b"",
            &[0xFF],
            &[0xFF, SOI],
            &[0xFF, SOI, 0xFF],
            &[0xFF, SOI, 0x12, 0xFF, SOS, 0x00, 0x02],
            &[0xFF, SOI, 0xFF, 0x00, 0x00, 0x02, 0xFF, SOS, 0x00, 0x02],
            &[0xFF, SOI, 0xFF, EOI, 0xFF, SOS, 0x00, 0x02],
            &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ];
        for data in cases {
            assert_eq!(headers(data), Headers::Unreadable, "{data:x?}");
            assert!(matches!(with_standard_tables(data), Cow::Borrowed(_)));
        }
        // Every short string of the bytes that matter: no panic.
        let alphabet = [0x00, 0x02, 0xFF, SOI, EOI, SOS, DHT, TEM];
        for n in 0..6u32 {
            for i in 0..alphabet.len().pow(n) {
                let data: Vec<u8> = (0..n)
                    .map(|k| alphabet[i / alphabet.len().pow(k) % alphabet.len()])
                    .collect();
                let _ = with_standard_tables(&data);
            }
        }
    }

    #[test]
    fn inserted_tables_give_exactly_the_original_pixels() {
        let jpeg = mozjpeg_image();
        let stripped = strip_huffman_tables(&jpeg);
        let fixed = with_standard_tables(&stripped);
        assert!(matches!(fixed, Cow::Owned(_)));
        assert_eq!(fixed.len(), stripped.len() + STANDARD_TABLES_LEN);
        assert!(has_huffman_tables(&fixed));
        assert_eq!(pixels(&fixed, 96, 64), pixels(&jpeg, 96, 64));
    }

    #[test]
    fn another_encoders_colour_and_grey_images_come_back_exactly() {
        for colour in [jpeg_encoder::ColorType::Rgb, jpeg_encoder::ColorType::Luma] {
            let (jpeg, width, height) = jpeg_encoder_image(colour);
            let fixed = with_standard_tables(&strip_huffman_tables(&jpeg)).into_owned();
            assert_eq!(pixels(&fixed, width, height), pixels(&jpeg, width, height));
        }
    }

    #[test]
    fn an_image_with_tables_is_borrowed_unchanged() {
        let jpeg = mozjpeg_image();
        let same = with_standard_tables(&jpeg);
        assert!(matches!(same, Cow::Borrowed(b) if std::ptr::eq(b, &jpeg[..])));
        assert!(spliced(&jpeg).is_none());
    }

    #[test]
    fn the_pieces_make_the_fixed_image() {
        let stripped = strip_huffman_tables(&mozjpeg_image());
        let pieces = spliced(&stripped).unwrap();
        assert_eq!(pieces[1], STANDARD_TABLES);
        assert_eq!(pieces.concat(), *with_standard_tables(&stripped));
        assert_eq!([pieces[0], pieces[2]].concat(), stripped);
    }

    #[test]
    fn a_shared_copy_is_the_fixed_image_or_the_image() {
        let jpeg = mozjpeg_image();
        let stripped = strip_huffman_tables(&jpeg);
        assert_eq!(*shared_with_standard_tables(&jpeg), jpeg);
        assert_eq!(
            *shared_with_standard_tables(&stripped),
            *with_standard_tables(&stripped)
        );
        assert_eq!(*shared_with_standard_tables(b"not a jpeg"), *b"not a jpeg");
    }
}
