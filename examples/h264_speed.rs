//! Times camwire's H.264 encoder and decoder on a real clip, frame by
//! frame, and measures what comes out: sizes, PSNR-Y against the source,
//! and the cost of turning a decoded picture into window pixels.
//!
//! Run: `cargo run --release --example h264_speed -- CLIP.y4m [KBIT] [FRAMES]`
//! (`bench/clip.sh` makes `target/clips/bbb-1280x720.y4m`). The encoder
//! runs as the sender runs it: real-time camera mode, 30 fps planned,
//! three temporal layers, one thread.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camwire::media::codec::{self, Decoded, Image, Yuv};
use camwire::media::source::Captured;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: h264_speed CLIP.y4m [KBIT] [FRAMES]")?;
    let kbit: u32 = args.next().map_or(Ok(2000), |a| a.parse())?;
    let frames: usize = args.next().map_or(Ok(300), |a| a.parse())?;

    let common::Clip {
        info,
        mut source,
        mut encoder,
    } = common::clip_encoder(&path, kbit)?;
    let (width, height) = (info.width, info.height);
    let mut decoder = codec::Decoder::new(info)?;
    let mut pixels = vec![0u32; (width * height) as usize];
    let (mut encode_times, mut decode_times, mut show_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut psnr, mut bytes, mut keys) = (Vec::new(), 0, Vec::new());
    for i in 0..frames {
        let Captured::I420(picture) = source.next_frame()?.content else {
            bail!("a clip gives I420 pictures");
        };
        let yuv = Yuv::packed(&picture, width, height).context("picture")?;
        let start = Instant::now();
        // Halfway, a keyframe as a viewer joining asks for one.
        let frame = encoder.encode(&Image::I420(yuv), i == frames / 2)?;
        encode_times.push(start.elapsed());
        bytes += frame.data.len();
        if frame.kind.key {
            keys.push(frame.data.len());
        }
        let start = Instant::now();
        let decoded = decoder.decode(&frame.data, frame.kind)?;
        decode_times.push(start.elapsed());
        let start = Instant::now();
        decoded.to_0rgb(&mut pixels);
        show_times.push(start.elapsed());
        let Decoded::I420(got) = decoded else {
            bail!("H.264 decodes to I420")
        };
        psnr.push(psnr_y(&got, &yuv));
    }

    let n = frames;
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

/// PSNR of `got`'s luma plane against `want`'s, row by row (a decoder's
/// rows may be padded), in dB.
fn psnr_y(got: &Yuv<'_>, want: &Yuv<'_>) -> f64 {
    fn rows<'p>(p: &Yuv<'p>) -> impl Iterator<Item = &'p [u8]> {
        let (y, width) = (p.y, p.width as usize);
        y.chunks(p.y_stride)
            .take(p.height as usize)
            .map(move |r| &r[..width])
    }
    let w = want.width as usize;
    let sse: u64 = rows(got)
        .zip(rows(want))
        .flat_map(|(a, b)| a.iter().zip(b))
        .map(|(a, b)| u64::from(a.abs_diff(*b)).pow(2))
        .sum();
    if sse == 0 {
        return 99.0;
    }
    let mse = sse as f64 / (w * want.height as usize) as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}
