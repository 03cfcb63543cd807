//! Runs `engine_ops` scenarios decoded from pseudo-random bytes outside libFuzzer and prints
//! how many hit their injected fault — a check that the scenario really crashes mid-work.
//!
//! `cd fuzz && cargo run --release --example ops_stats -- 300`

use kvstore_fuzz::ops::{run, Scenario};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let (mut hit, mut acked, mut keys) = (0, 0, 0);
    for seed in 0..n {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let bytes: Vec<u8> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let r = run(&Scenario::parse(&bytes[..64 + (seed as usize * 7) % 192]));
        hit += usize::from(r.fault_hit);
        acked += r.acknowledged;
        keys += r.keys_checked;
    }
    println!(
        "{n} scenarios: {hit} hit their fault before the crash; {acked} acknowledged writes, \
         {keys} recovered keys checked"
    );
}
