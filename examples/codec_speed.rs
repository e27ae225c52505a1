//! Times the JPEG encoders and the decoder camwire could use, on the test
//! pattern, so the choice in `codec` rests on numbers.
//!
//! Run: `cargo run --release --example codec_speed`

use std::time::{Duration, Instant};

use camwire::codec::{Decoder, encode_jpeg};
use camwire::source::pattern_rgb;
use camwire::wire::{Codec, StreamInfo};

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
        let mut decoder = Decoder::new(info);
        let mut pixels = vec![0u32; (width * height) as usize];
        let decode = time(|| decoder.decode(&jpeg, &mut pixels).unwrap());
        println!(
            "| {width}x{height} | {} | {} | {} | {} |",
            jpeg.len(),
            ms(mozjpeg),
            ms(pure_rust),
            ms(decode)
        );
    }
}
