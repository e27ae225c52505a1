//! Locks that outlive a panic.
//!
//! camwire's mutexes guard counts, flags and buffers that are whole
//! between any two statements, so a thread that panicked while holding one
//! left nothing half-done: the others go on with what it holds rather than
//! fail too.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, whatever a thread that panicked holding it did.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
