//! Tests that instrument the whole process, so they cannot share a binary with parallel tests:
//! dhat's counting allocator serves every thread and allows one profiler at a time, and tracing
//! caches per-callsite interest process-wide; the soak loads the whole machine. They run one at
//! a time, under [`serial`].

use std::sync::{Mutex, MutexGuard};

mod allocations;
mod logging;
mod registration;
mod soak;

/// Taken by every test of this binary for its whole run: no two overlap.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
