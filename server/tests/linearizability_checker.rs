//! The linearizability checker (`common/linearizability.rs`) on hand-made histories: it accepts
//! what a register may answer and rejects stale reads, reads of values never written, lost
//! acknowledged writes and writes applied twice; unknown outcomes count as applied or not,
//! whichever explains the answers. It agrees with a brute-force search (every order of every
//! subset of the unknown writes) on 3,000 small random histories, valid and not; a generated
//! valid history of 4,000 operations is accepted in well under a second, and one with a stale
//! read appended is rejected. No server: the whole file runs in about a second.

mod common;

use common::linearizability::{check, check_with_budget, Event, Op, Outcome, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A history written by hand, times in milliseconds from its start.
struct History {
    base: Instant,
    events: Vec<Event<String>>,
}

impl History {
    fn new() -> History {
        History {
            base: Instant::now(),
            events: Vec::new(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn push(&mut self, key: &str, op: Op<String>, outcome: Outcome, from: u64, to: u64) {
        let client = self.events.len();
        self.events.push(Event {
            client,
            key: key.into(),
            op,
            outcome,
            invoked: self.at(from),
            completed: self.at(to),
        });
    }

    fn set(&mut self, v: &str, outcome: Outcome, from: u64, to: u64) {
        self.push("k", Op::Set(v.into()), outcome, from, to);
    }

    fn get(&mut self, r: Option<&str>, from: u64, to: u64) {
        self.push("k", Op::Get(r.map(String::from)), Outcome::Ok, from, to);
    }

    fn delete(&mut self, existed: Option<bool>, outcome: Outcome, from: u64, to: u64) {
        self.push("k", Op::Delete(existed), outcome, from, to);
    }

    fn verdict(&self) -> Verdict {
        check(&self.events).verdict
    }
}

use Outcome::{Failed, Ok as Acked, Unknown};

fn assert_rejected(h: &History, mentions: &str) -> String {
    match h.verdict() {
        Verdict::NotLinearizable(why) => {
            assert!(why.contains(mentions), "{mentions:?} not in: {why}");
            why
        }
        other => panic!("accepted a non-linearizable history: {other:?}"),
    }
}

#[test]
fn a_sequential_history_is_linearizable() {
    let mut h = History::new();
    h.get(None, 0, 1);
    h.set("a", Acked, 2, 3);
    h.get(Some("a"), 4, 5);
    h.set("b", Acked, 6, 7);
    h.get(Some("b"), 8, 9);
    h.delete(Some(true), Acked, 10, 11);
    h.get(None, 12, 13);
    h.delete(Some(false), Acked, 14, 15);
    h.delete(None, Acked, 16, 17);
    assert_eq!(h.verdict(), Verdict::Linearizable);
    assert!(check::<String>(&[]).is_linearizable());
}

#[test]
fn concurrent_operations_may_take_effect_in_any_order_within_their_intervals() {
    // Two overlapping writes: a later read may see either, but the two reads that follow
    // each other must agree on which was last.
    for last in ["a", "b"] {
        let mut h = History::new();
        h.set("a", Acked, 0, 100);
        h.set("b", Acked, 10, 90);
        h.get(Some(last), 120, 130);
        h.get(Some(last), 140, 150);
        assert_eq!(h.verdict(), Verdict::Linearizable, "last = {last}");
    }
    // Reads overlapping a write see the old value, then the new one.
    let mut h = History::new();
    h.set("a", Acked, 0, 100);
    h.get(None, 5, 50);
    h.get(Some("a"), 20, 60);
    h.get(Some("a"), 70, 80);
    // A delete overlapping a write: it found "a", so it went first.
    h.set("b", Acked, 200, 300);
    h.delete(Some(true), Acked, 210, 290);
    h.get(Some("b"), 310, 320);
    assert_eq!(h.verdict(), Verdict::Linearizable);
}

#[test]
fn a_stale_read_is_not_linearizable() {
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.set("b", Acked, 20, 30);
    h.get(Some("a"), 40, 50);
    let why = assert_rejected(&h, "get -> Some(\"a\")");
    assert!(why.contains("key \"k\""), "{why}");
    assert!(why.contains("\"b\""), "the report names the state: {why}");
}

#[test]
fn reads_going_back_in_time_are_not_linearizable() {
    // Both reads overlap the write, but the second began after the first ended: once a read
    // has seen the new value, no later read may see the old one.
    let mut h = History::new();
    h.set("a", Acked, 0, 100);
    h.get(Some("a"), 10, 20);
    h.get(None, 30, 40);
    assert_rejected(&h, "get -> None");
}

#[test]
fn a_read_of_a_value_never_written_is_not_linearizable() {
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.get(Some("z"), 20, 30);
    assert_rejected(&h, "\"z\", which no set");
    // Nor of a value written under another key: keys are independent registers.
    let mut h = History::new();
    h.push("k1", Op::Set("a".into()), Acked, 0, 10);
    h.push("k2", Op::Get(Some("a".into())), Acked, 20, 30);
    assert_rejected(&h, "key \"k2\"");
    // Nor of a value read back before its writer was invoked.
    let mut h = History::new();
    h.get(Some("a"), 0, 10);
    h.set("a", Acked, 20, 30);
    assert_rejected(&h, "before the set that wrote it");
}

#[test]
fn a_lost_acknowledged_write_is_not_linearizable() {
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.get(None, 20, 30);
    assert_rejected(&h, "get -> None");
    // An acknowledged delete whose key reappears.
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.delete(Some(true), Acked, 20, 30);
    h.get(Some("a"), 40, 50);
    assert_rejected(&h, "get -> Some(\"a\")");
    // A delete answering "absent" right after an acknowledged write.
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.delete(Some(false), Acked, 20, 30);
    assert_rejected(&h, "delete (absent)");
}

#[test]
fn an_unknown_write_may_take_effect_late_or_never() {
    // Never: every later read finds the key absent.
    let mut h = History::new();
    h.set("a", Unknown, 0, 10);
    h.get(None, 20, 30);
    h.get(None, 40, 50);
    assert_eq!(h.verdict(), Verdict::Linearizable);
    // Late: long after the client gave up, between two reads.
    let mut h = History::new();
    h.set("a", Unknown, 0, 10);
    h.get(None, 1_000, 1_010);
    h.get(Some("a"), 5_000, 5_010);
    assert_eq!(h.verdict(), Verdict::Linearizable);
    // An unknown delete, likewise.
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.delete(None, Unknown, 20, 30);
    h.get(Some("a"), 40, 50);
    h.get(None, 60, 70);
    assert_eq!(h.verdict(), Verdict::Linearizable);
    // A delete that found a value, explained only by an unknown write having been applied.
    let mut h = History::new();
    h.set("a", Unknown, 0, 10);
    h.delete(Some(true), Acked, 20, 30);
    assert_eq!(h.verdict(), Verdict::Linearizable);
}

#[test]
fn an_unknown_write_takes_effect_at_most_once_and_never_before_it_was_sent() {
    // Seen, overwritten, then seen again: it would have to be applied twice.
    let mut h = History::new();
    h.set("x", Unknown, 0, 10);
    h.get(Some("x"), 20, 30);
    h.set("y", Acked, 40, 50);
    h.get(Some("x"), 60, 70);
    assert_rejected(&h, "get -> Some(\"x\")");
    // Seen before it was sent.
    let mut h = History::new();
    h.get(Some("x"), 0, 10);
    h.set("x", Unknown, 20, 30);
    assert_rejected(&h, "before the set that wrote it");
    // A delete finding a value no write could have put there.
    let mut h = History::new();
    h.delete(Some(true), Acked, 0, 10);
    h.set("a", Unknown, 20, 30);
    assert_rejected(&h, "delete (it held a value)");
}

#[test]
fn a_failed_write_is_never_applied() {
    let mut h = History::new();
    h.set("a", Failed, 0, 10);
    h.get(Some("a"), 20, 30);
    assert_rejected(&h, "\"a\", which no set");
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.delete(None, Failed, 20, 30);
    h.get(Some("a"), 40, 50);
    assert_eq!(h.verdict(), Verdict::Linearizable);
    // Failed and unknown reads say nothing, whatever they carry.
    let mut h = History::new();
    h.set("a", Acked, 0, 10);
    h.push("k", Op::Get(Some("zzz".into())), Failed, 20, 30);
    h.push("k", Op::Get(None), Unknown, 40, 50);
    assert_eq!(h.verdict(), Verdict::Linearizable);
}

#[test]
fn a_search_out_of_budget_is_inconclusive_not_linearizable() {
    let mut h = History::new();
    for i in 0..20 {
        h.set(&format!("v{i}"), Acked, 0, 100);
    }
    h.get(Some("v7"), 200, 210);
    let r = check_with_budget(&h.events, 5);
    assert!(matches!(r.verdict, Verdict::Inconclusive(_)), "{r:?}");
    assert!(check(&h.events).is_linearizable());
}

/// A history of a register that really is linearizable: `clients` clients issue `per_client`
/// operations each, one after the other, on `keys` keys; each takes effect at a random point
/// of its interval, and the answers are computed in that order. A fraction `unknown` of them
/// end with an unknown outcome: a write among them takes effect at a random later point (up to
/// twenty times its duration after it was sent) or never.
fn random_history(
    seed: u64,
    clients: usize,
    per_client: usize,
    keys: usize,
    unknown: f64,
) -> Vec<Event<String>> {
    struct Planned {
        event: Event<String>,
        /// When it takes effect (µs); `None`: never.
        at: Option<u64>,
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let base = Instant::now();
    let us = |t: u64| base + Duration::from_micros(t);
    let mut planned = Vec::new();
    for client in 0..clients {
        let mut t = rng.gen_range(0..100);
        for i in 0..per_client {
            let key = format!("key{}", rng.gen_range(0..keys));
            let roll = rng.gen_range(0..100);
            let op = match roll {
                0..=44 => Op::Get(None),
                45..=89 => Op::Set(format!("c{client}-{i}")),
                _ => Op::Delete(None),
            };
            let took = rng.gen_range(1..300);
            let outcome = if rng.gen_bool(unknown) {
                Unknown
            } else {
                Acked
            };
            let at = match (&op, outcome) {
                (Op::Get(_), Unknown) => None,
                (_, Unknown) if rng.gen_bool(0.5) => None,
                (_, Unknown) => Some(t + rng.gen_range(0..took * 20)),
                _ => Some(t + rng.gen_range(0..=took)),
            };
            planned.push(Planned {
                event: Event {
                    client,
                    key,
                    op,
                    outcome,
                    invoked: us(t),
                    completed: us(t + took),
                },
                at,
            });
            t += took + rng.gen_range(0..50);
        }
    }
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].at.is_some())
        .collect();
    order.sort_by_key(|&i| planned[i].at);
    let mut state: HashMap<String, String> = HashMap::new();
    for i in order {
        let e = &mut planned[i].event;
        match &mut e.op {
            Op::Set(v) => {
                state.insert(e.key.clone(), v.clone());
            }
            Op::Get(r) => *r = state.get(&e.key).cloned(),
            Op::Delete(existed) => {
                let was = state.remove(&e.key).is_some();
                if e.outcome == Acked {
                    *existed = Some(was);
                }
            }
        }
    }
    planned.into_iter().map(|p| p.event).collect()
}

#[test]
fn a_large_random_valid_history_is_accepted_quickly() {
    // 8 clients on 4 keys, and 4 clients all on one key.
    for (seed, clients, keys) in [(1, 8, 4), (2, 4, 1)] {
        let events = random_history(seed, clients, 4_000 / clients, keys, 0.05);
        let r = check(&events);
        eprintln!(
            "seed {seed}: {} events of {clients} clients over {keys} key(s): {} searched, {} dropped, {} steps, {:?}",
            events.len(),
            r.ops,
            r.dropped,
            r.steps,
            r.took
        );
        assert_eq!(r.verdict, Verdict::Linearizable, "seed {seed}");
        assert_eq!(r.ops + r.dropped, 4_000);
        // Debug build, shared 2-core machine: measured 0.2 s and 0.8 s; an exponential search
        // would take hours.
        assert!(r.took < Duration::from_secs(10), "{:?}", r.took);
    }
}

#[test]
fn the_same_history_with_one_stale_read_appended_is_rejected() {
    let mut events = random_history(3, 8, 250, 4, 0.05);
    // A value acknowledged, then overwritten by a set acknowledged and invoked after it
    // completed: reading it once everything is over is stale, whatever the unknown writes did.
    let stale = events
        .iter()
        .find_map(|w1| {
            let Op::Set(v) = &w1.op else { return None };
            let later = events.iter().any(|w2| {
                w2.key == w1.key
                    && matches!(w2.op, Op::Set(_))
                    && w2.outcome == Acked
                    && w2.invoked > w1.completed
            });
            (w1.outcome == Acked && later).then(|| (w1.key.clone(), v.clone()))
        })
        .expect("some acknowledged value is overwritten");
    let end = events.iter().map(|e| e.completed).max().unwrap();
    events.push(Event {
        client: 99,
        key: stale.0.clone(),
        op: Op::Get(Some(stale.1.clone())),
        outcome: Acked,
        invoked: end + Duration::from_millis(1),
        completed: end + Duration::from_millis(2),
    });
    let r = check(&events);
    eprintln!("rejected in {} steps, {:?}", r.steps, r.took);
    match r.verdict {
        Verdict::NotLinearizable(why) => {
            assert!(why.contains(&format!("key {:?}", stale.0)), "{why}");
            assert!(why.contains("client 99"), "{why}");
        }
        other => panic!("the stale read was not caught: {other:?}"),
    }
    // It must search every configuration to say no: measured 0.2 s.
    assert!(r.took < Duration::from_secs(10), "{:?}", r.took);
}

/// Whether `events` (one key) is linearizable, by trying every subset of the writes with an
/// unknown outcome and every order: the definition itself, for small histories.
fn brute_force(events: &[Event<String>]) -> bool {
    let ops: Vec<&Event<String>> = events
        .iter()
        .filter(|e| !matches!((&e.op, e.outcome), (_, Failed) | (Op::Get(_), Unknown)))
        .collect();
    let optional: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].outcome == Unknown)
        .collect();
    // `a` must come before `b` when `a` completed before `b` was invoked.
    let before =
        |a: &Event<String>, b: &Event<String>| a.outcome == Acked && a.completed < b.invoked;
    fn orders(
        left: &mut Vec<usize>,
        order: &mut Vec<usize>,
        ops: &[&Event<String>],
        before: &dyn Fn(&Event<String>, &Event<String>) -> bool,
        state: Option<String>,
    ) -> bool {
        if left.is_empty() {
            return true;
        }
        for k in 0..left.len() {
            let o = left[k];
            // Nothing left may have to come before it.
            if left.iter().any(|&x| x != o && before(ops[x], ops[o])) {
                continue;
            }
            let next = match &ops[o].op {
                Op::Set(v) => Some(Some(v.clone())),
                Op::Get(r) => (*r == state).then(|| state.clone()),
                // An unknown delete's answer was never seen.
                Op::Delete(Some(e)) if ops[o].outcome == Acked && *e != state.is_some() => None,
                Op::Delete(_) => Some(None),
            };
            if let Some(next) = next {
                left.remove(k);
                order.push(o);
                let found = orders(left, order, ops, before, next);
                order.pop();
                left.insert(k, o);
                if found {
                    return true;
                }
            }
        }
        false
    }
    (0..1u32 << optional.len()).any(|mask| {
        let mut left: Vec<usize> = (0..ops.len())
            .filter(|i| match optional.iter().position(|o| o == i) {
                Some(bit) => mask & (1 << bit) != 0,
                None => true,
            })
            .collect();
        orders(&mut left, &mut Vec::new(), &ops, &before, None)
    })
}

#[test]
fn the_checker_agrees_with_brute_force_on_small_random_histories() {
    let mut rng = StdRng::seed_from_u64(7);
    let values = ["a", "b", "c", "d"];
    let (mut yes, mut no) = (0, 0);
    for case in 0..3_000 {
        let mut h = History::new();
        for _ in 0..rng.gen_range(1..=7) {
            let from = rng.gen_range(0..20);
            let to = from + rng.gen_range(0..8);
            let outcome = match rng.gen_range(0..10) {
                0 => Failed,
                1 | 2 => Unknown,
                _ => Acked,
            };
            let value = values[rng.gen_range(0..values.len())].to_string();
            let op = match rng.gen_range(0..10) {
                0..=3 => Op::Set(value),
                4..=7 => Op::Get(rng.gen_bool(0.8).then_some(value)),
                _ => Op::Delete([None, Some(true), Some(false)][rng.gen_range(0..3)]),
            };
            h.push("k", op, outcome, from, to);
        }
        let expected = brute_force(&h.events);
        let got = h.verdict();
        assert_eq!(
            got == Verdict::Linearizable,
            expected,
            "case {case}: the checker says {got:?}, the brute force {expected}: {:#?}",
            h.events
                .iter()
                .map(|e| format!(
                    "{:?} {:?} {:?}..{:?}",
                    e.op,
                    e.outcome,
                    e.invoked - h.base,
                    e.completed - h.base
                ))
                .collect::<Vec<_>>()
        );
        if expected {
            yes += 1;
        } else {
            no += 1;
        }
    }
    eprintln!("{yes} linearizable, {no} not");
    assert!(yes > 500 && no > 500, "{yes} / {no}: not a fair sample");
}
