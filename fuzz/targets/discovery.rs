//! Fuzz target: warden::fuzzing::discovery must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::discovery(data);
    });
}
