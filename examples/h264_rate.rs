//! How closely camwire's H.264 encoder follows a fixed target on a real
//! clip: the bitrate it makes each second, and each keyframe's size (a
//! hard cut in the clip is made a keyframe).
//!
//! Run: `cargo run --release --example h264_rate -- CLIP.y4m [KBIT] [FRAMES]`
//! (`bench/clip.sh` makes `target/clips/bbb-1280x720.y4m`). Frames are
//! taken as made at 30 fps, as the sender makes them.

mod common;

use anyhow::{Context, Result, bail};
use camwire::media::codec::{Image, Yuv};
use camwire::media::source::Captured;

const FPS: usize = common::FPS as usize;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: h264_rate CLIP.y4m [KBIT] [FRAMES]")?;
    let kbit: u32 = args.next().map_or(Ok(1750), |a| a.parse())?;
    let frames: usize = args.next().map_or(Ok(600), |a| a.parse())?;

    let common::Clip {
        info,
        mut source,
        mut encoder,
    } = common::clip_encoder(&path, kbit)?;
    let (width, height) = (info.width, info.height);
    let (mut seconds, mut keys) = (vec![0usize], Vec::new());
    for i in 0..frames {
        let Captured::I420(picture) = source.next_frame()?.content else {
            bail!("a clip gives I420 pictures");
        };
        let yuv = Yuv::packed(&picture, width, height).context("picture")?;
        let frame = encoder.encode(&Image::I420(yuv), false)?;
        if frame.kind.key {
            keys.push((i, frame.data.len()));
        }
        if i > 0 && i % FPS == 0 {
            seconds.push(0);
        }
        *seconds.last_mut().expect("one second at least") += frame.data.len();
    }

    let kbits: Vec<usize> = seconds.iter().map(|&bytes| bytes * 8 / 1000).collect();
    let whole = &kbits[..frames / FPS];
    println!("# camwire H.264 on {path}: {width}x{height}, {frames} frames, target {kbit} kbit/s");
    println!();
    println!("| s | kbit/s | keyframes (bytes) |");
    println!("|--:|--:|---|");
    for (s, k) in kbits.iter().enumerate() {
        let here: Vec<String> = keys
            .iter()
            .filter(|(i, _)| i / FPS == s)
            .map(|(_, bytes)| bytes.to_string())
            .collect();
        println!("| {s} | {k} | {} |", here.join(", "));
    }
    if !whole.is_empty() {
        let mean = whole.iter().sum::<usize>() / whole.len();
        println!();
        println!(
            "mean {mean} kbit/s over {} whole seconds ({:.1}% of the target); lowest {} kbit/s",
            whole.len(),
            mean as f64 * 100.0 / f64::from(kbit),
            whole.iter().min().copied().unwrap_or(0)
        );
    }
    Ok(())
}
