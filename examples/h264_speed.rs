//! Times camwire's H.264 encoder and decoder on a real clip, frame by
//! frame, and measures what comes out: sizes, PSNR-Y against the source,
//! and the cost of turning a decoded picture into window pixels.
//!
//! Run: `cargo run --release --example h264_speed -- CLIP.y4m [KBIT] [FRAMES]`
//! (`bench/clip.sh` makes `target/clips/bbb-1280x720.y4m`). The encoder
//! runs as the sender runs it: real-time camera mode, 30 fps planned,
//! three temporal layers, one thread.

use std::fs::File;
use std::io::BufReader;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camwire::media::codec::{self, EncoderConfig, Image, Yuv, yuv};
use camwire::wire::{Codec, StreamInfo};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: h264_speed CLIP.y4m [KBIT] [FRAMES]")?;
    let kbit: u32 = args.next().map_or(Ok(2000), |a| a.parse())?;
    let limit: usize = args.next().map_or(Ok(300), |a| a.parse())?;

    let file = BufReader::new(File::open(&path).with_context(|| path.clone())?);
    let mut clip = y4m::Decoder::new(file).context("not a y4m clip")?;
    let (width, height) = (clip.get_width() as u32, clip.get_height() as u32);
    let mut pictures = Vec::new();
    while pictures.len() < limit {
        match clip.read_frame() {
            Ok(frame) => {
                let mut packed = frame.get_y_plane().to_vec();
                packed.extend_from_slice(frame.get_u_plane());
                packed.extend_from_slice(frame.get_v_plane());
                if packed.len() != yuv::i420_len(width, height) {
                    bail!("{path} is not I420");
                }
                pictures.push(packed);
            }
            Err(y4m::Error::EOF) => break,
            Err(e) => bail!("{path}: {e:?}"),
        }
    }
    let info = StreamInfo {
        width,
        height,
        codec: Codec::H264,
    };
    let config = EncoderConfig {
        info,
        quality: 80,
        bitrate_kbit: kbit,
        fps: 30,
    };

    let mut encoder = codec::encoder(&config)?;
    let mut frames = Vec::new();
    let mut encode_times = Vec::new();
    for (i, picture) in pictures.iter().enumerate() {
        let yuv = Yuv::packed(picture, width, height).context("picture")?;
        let start = Instant::now();
        // Halfway, a keyframe as a viewer joining asks for one.
        let frame = encoder.encode(&Image::I420(yuv), i == pictures.len() / 2)?;
        encode_times.push(start.elapsed());
        frames.push(frame);
    }

    let mut decoder = codec::Decoder::new(info)?;
    let mut pixels = vec![0u32; (width * height) as usize];
    let (mut decode_times, mut show_times, mut psnr) = (Vec::new(), Vec::new(), Vec::new());
    for (frame, source) in frames.iter().zip(&pictures) {
        let start = Instant::now();
        let decoded = decoder.decode(&frame.data, frame.kind)?;
        decode_times.push(start.elapsed());
        let start = Instant::now();
        decoded.to_0rgb(&mut pixels);
        show_times.push(start.elapsed());
        let codec::Decoded::I420(picture) = decoded else {
            bail!("H.264 decodes to I420")
        };
        psnr.push(psnr_y(picture.y, &source[..(width * height) as usize]));
    }

    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    let keys: Vec<usize> = frames
        .iter()
        .filter(|f| f.kind.key)
        .map(|f| f.data.len())
        .collect();
    let n = frames.len();
    println!("# camwire H.264 on {path}: {width}x{height}, {n} frames, target {kbit} kbit/s");
    println!();
    println!("| | median ms | p90 ms | max ms |");
    println!("|---|--:|--:|--:|");
    for (name, times) in [
        ("encode (I420 in)", &mut encode_times),
        ("decode (OpenH264)", &mut decode_times),
        ("I420 to window pixels", &mut show_times),
    ] {
        times.sort();
        let at = |q: usize| ms(times[(times.len() - 1) * q / 100]);
        println!("| {name} | {} | {} | {} |", at(50), at(90), at(100));
    }
    println!();
    let mean_psnr = psnr.iter().sum::<f64>() / n as f64;
    let min_psnr = psnr.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "bytes/frame {} (keyframes: {} of {}: {:?} bytes; the second asked for halfway); \
         {:.0} kbit/s at 30 fps; PSNR-Y mean {mean_psnr:.2} dB, min {min_psnr:.2} dB",
        bytes / n,
        keys.len(),
        n,
        keys,
        bytes as f64 * 8.0 * 30.0 / n as f64 / 1000.0,
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// PSNR of the luma plane `got` (tightly packed) against `want`, in dB.
fn psnr_y(got: &[u8], want: &[u8]) -> f64 {
    let sse: u64 = got
        .iter()
        .zip(want)
        .map(|(a, b)| u64::from(a.abs_diff(*b)).pow(2))
        .sum();
    if sse == 0 {
        return 99.0;
    }
    let mse = sse as f64 / want.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}
