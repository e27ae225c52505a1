//! Pictures and frames: where they come from and how they are coded.
//!
//! - [`codec`]: the codec seam, and raw and JPEG behind it.
//! - [`mjpeg`]: the standard Huffman tables a webcam's MJPEG leaves out.
//! - [`source`]: the frame source trait and the moving test pattern.
//! - [`camera`]: the webcam through nokhwa (the only module naming it).

pub mod camera;
pub mod codec;
pub mod mjpeg;
pub mod source;
