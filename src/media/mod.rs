//! Pictures and frames: where they come from and how they are coded.
//!
//! - [`codec`]: the codec seam, and raw and JPEG behind it.
//! - [`mjpeg`]: the standard Huffman tables a webcam's MJPEG leaves out.
//! - [`source`]: the frame source trait and the moving test pattern.
//! - [`camera`]: the webcam through nokhwa (the only module naming it).
//! - [`clip`]: a YUV4MPEG2 clip played in a loop.
//! - [`yuv4mpeg`]: the clip format's header, and a writer of it.

pub mod camera;
pub mod clip;
pub mod codec;
pub mod mjpeg;
pub mod source;
pub mod yuv4mpeg;
