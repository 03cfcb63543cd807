//! An op sequence over the engine on `FaultFs` with a fuzzer-chosen failure point and a power
//! cut (optionally tearing unsynced tails); recovery must give exactly the acknowledged
//! history, plus at most the one failed write, whole. Input format and oracle:
//! `kvstore_fuzz::ops` (`Scenario::parse`, `run`).
#![no_main]

use kvstore_fuzz::ops::{run, Scenario};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(&Scenario::parse(data));
});
