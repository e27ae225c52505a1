//! What a person sees and types.
//!
//! - [`display`]: the minifb window (the only module naming minifb).
//! - [`labels`]: window titles and what they say.
//! - [`compose`]: a call's two pictures in one canvas.
//! - [`cli`]: the source flags both binaries share.

pub mod cli;
pub mod compose;
pub mod display;
pub mod labels;
