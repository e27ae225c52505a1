//! Times the JPEG encoders and the decoder camwire could use, on the test
//! pattern, so the choice in `codec` rests on numbers.
//!
//! Run: `cargo run --release --example codec_speed`

use std::time::{Duration, Instant};

use camwire::limits::SEAL_CHUNK;
use camwire::media::codec::{Decoder, encode_jpeg};
use camwire::media::source::pattern_rgb;
use camwire::wire::{Codec, FrameKind, StreamInfo};

const SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const QUALITY: u8 = 80;

/// Mean time of `f` over enough runs to take about half a second.
fn time(mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut runs = 0;
    while start.elapsed() < Duration::from_millis(500) {
        f();
        runs += 1;
    }
    start.elapsed() / runs
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Private mode's cost per frame: camwire's own sealing (copy included, in
/// pieces through one reused buffer, as a link does it) and opening, then
/// the AEADs it could have used, each sealing a frame in place.
fn print_sealing() {
    use camwire::link::private::{Code, Exchange, Role};
    use ring::aead::{
        AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
    };
    let code = Code::new("1").unwrap();
    let pair = || {
        let (a, b) = (Exchange::start(&code), Exchange::start(&code));
        let (a_msg, b_msg) = (a.message().to_vec(), b.message().to_vec());
        let sender = a.finish(&b_msg, Role::Sender).unwrap();
        (sender, b.finish(&a_msg, Role::Viewer).unwrap())
    };
    let ring_seal = |algorithm: &'static Algorithm, frame: &mut Vec<u8>| {
        let key = LessSafeKey::new(UnboundKey::new(algorithm, &[7; 32]).unwrap());
        time(|| {
            let nonce = Nonce::assume_unique_for_key([0; 12]);
            let _ = key.seal_in_place_separate_tag(nonce, Aad::empty(), frame);
        })
    };
    println!();
    println!(
        "| size | raw bytes | camwire seal (copy + AEGIS-128X2) ms | camwire open ms | GB/s open \
         | ring AES-256-GCM seal ms | ring ChaCha20-Poly1305 seal ms |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|");
    for (width, height) in SIZES {
        let (mut sender, _) = pair();
        let (mut paired_sender, mut viewer) = pair();
        let pixels = pattern_rgb(width, height, 0);
        let mut piece = vec![0; SEAL_CHUNK];
        let seal = time(|| {
            let mut sealing = sender.sealer.start();
            for part in pixels.chunks(SEAL_CHUNK) {
                sealing.update(part, &mut piece[..part.len()]);
            }
            std::hint::black_box(sealing.finish());
        });
        // Opening needs messages sealed in order; seal a fresh one each time.
        let mut sealed = Vec::new();
        let mut open_total = Duration::ZERO;
        let runs = 50;
        for _ in 0..runs {
            let mut sealing = paired_sender.sealer.start();
            sealed.resize(pixels.len(), 0);
            sealing.update(&pixels, &mut sealed);
            sealed.extend_from_slice(&sealing.finish());
            let start = Instant::now();
            viewer.opener.open(&mut sealed).unwrap();
            open_total += start.elapsed();
        }
        let open = open_total / runs;
        let gbps = pixels.len() as f64 / open.as_secs_f64() / 1e9;
        let mut frame = pixels.clone();
        let gcm = ring_seal(&AES_256_GCM, &mut frame);
        let chacha = ring_seal(&CHACHA20_POLY1305, &mut frame);
        println!(
            "| {width}x{height} | {} | {} | {} | {gbps:.1} | {} | {} |",
            pixels.len(),
            ms(seal),
            ms(open),
            ms(gcm),
            ms(chacha)
        );
    }
}

fn main() {
    println!(
        "| size | JPEG bytes | mozjpeg encode ms | jpeg-encoder encode ms | zune-jpeg decode + convert ms |"
    );
    println!("|---|--:|--:|--:|--:|");
    for (width, height) in SIZES {
        let rgb = pattern_rgb(width, height, 3);
        let jpeg = encode_jpeg(width, height, &rgb, QUALITY).unwrap();
        let mozjpeg = time(|| {
            encode_jpeg(width, height, &rgb, QUALITY).unwrap();
        });
        let pure_rust = time(|| {
            let mut out = Vec::new();
            let encoder = jpeg_encoder::Encoder::new(&mut out, QUALITY);
            encoder
                .encode(
                    &rgb,
                    width as u16,
                    height as u16,
                    jpeg_encoder::ColorType::Rgb,
                )
                .unwrap();
        });
        let info = StreamInfo {
            width,
            height,
            codec: Codec::Jpeg,
        };
        let mut decoder = Decoder::new(info).unwrap();
        let mut pixels = vec![0u32; (width * height) as usize];
        let decode = time(|| {
            decoder
                .decode_into(&jpeg, FrameKind::KEY, &mut pixels)
                .unwrap()
        });
        println!(
            "| {width}x{height} | {} | {} | {} | {} |",
            jpeg.len(),
            ms(mozjpeg),
            ms(pure_rust),
            ms(decode)
        );
    }
    print_sealing();
}
