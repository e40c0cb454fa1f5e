//! Fuzz target: warden::fuzzing::security_event (the Shared Signals SET parser) must never panic.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        warden::fuzzing::security_event(data);
    });
}
