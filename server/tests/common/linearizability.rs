//! A linearizability checker for histories of a key-value store: Wing and Gong's search as
//! Lowe made it practical ("Testing for linearizability", 2017), with his memoization of
//! (operations linearized so far, model state).
//!
//! It owns the model and the search, nothing else: the clients that record a history and the
//! nemesis that breaks the cluster are in the test files (Jepsen's split: the checker never
//! knows how a history was produced).
//!
//! **Model.** Each key is an independent register holding `Option<V>`: `set(v)` stores `v`,
//! `get` returns what is stored, `delete` empties it (and, when the server said so, observed
//! whether it held a value). Keys never interact, so a history is linearizable iff each key's
//! sub-history is (linearizability is local, Herlihy and Wing) and each key is checked alone.
//!
//! **Outcomes.** An operation is `Ok` (acknowledged; a `get` carries what it returned),
//! `Failed` (definitely not applied: dropped from the history), or `Unknown` (a timeout, a 5xx,
//! a connection lost mid-request: it may take effect at any moment after it was invoked — also
//! long after the client gave up — or never). An unknown read tells nothing and is dropped; an
//! unknown write gets no completion time, so it never forces the order of others, and the search
//! may place it anywhere after its invocation or leave it out.
//!
//! **Search.** The history is a list of call and return entries in time order (at equal times
//! calls first: such operations count as concurrent, the permissive reading). The operations
//! called before the first pending return may go next; the search linearizes the first of them
//! the model accepts and starts again; when none can, the operation of that return could not be
//! placed before its own completion on this path, and the search backtracks. A configuration
//! (linearized set, state) already explored is not explored again, which bounds the search by
//! the distinct configurations — few for a register, where the pending window is the clients'
//! concurrency. The key is linearizable once every operation with a completion time is.
//!
//! **Unknown writes** could still make it exponential: each one pending doubles the
//! configurations, and they stay pending to the end. What keeps them cheap, each exact (the
//! verdict is the same with or without; `linearizability_checker.rs` compares the checker with
//! a brute-force search on thousands of small random histories):
//! - an unknown `set(v)` whose value some read returned (and no other set wrote) took effect
//!   before that read completed: that completion becomes its own;
//! - a `set` whose value no read returned and no other set wrote is only seen as "the key holds
//!   something", by a delete: all such values are one value to the search;
//! - one of those with an unknown outcome that no later delete could observe is left out;
//! - the remaining unbounded writes of one kind are interchangeable, so only the earliest
//!   pending one is tried, and only where it is needed: an unread set on an empty key just
//!   before a delete that found a value, an unknown delete on a full key just before a read of
//!   nothing or a delete that found nothing (`search` has the argument).
//!
//! Measured (debug build): a valid history of 4,000 operations, 5 % of them unknown, is
//! accepted in 0.1 to 0.5 s, and 2,000 with one stale read appended are rejected in 0.2 s.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What a client asked, with what the store answered when that is part of the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<V> {
    /// Store `V`.
    Set(V),
    /// Read; what it returned (`None`: absent). Ignored unless the outcome is [`Outcome::Ok`].
    Get(Option<V>),
    /// Delete; whether the key held a value when it was applied, when the store said (`KVStore`
    /// answers 404 for a delete of an absent key).
    Delete(Option<bool>),
}

/// How an operation ended, as far as the client can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: it took effect between its invocation and its completion.
    Ok,
    /// Definitely not applied (a 4xx refusal, a connection that was never made).
    Failed,
    /// May or may not have taken effect, at any time after its invocation (a timeout, a 5xx, a
    /// connection lost after the request went out).
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug)]
pub struct Event<V> {
    /// Who issued it (for reports only).
    pub client: usize,
    pub key: String,
    pub op: Op<V>,
    pub outcome: Outcome,
    /// Just before the request was sent.
    pub invoked: Instant,
    /// Just after the answer (or the error) arrived; only reported for an unknown outcome.
    pub completed: Instant,
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations explains every answer; says where the best attempt stopped.
    NotLinearizable(String),
    /// The search ran out of steps before deciding (a test must treat this as a failure).
    Inconclusive(String),
}

/// A verdict and what it was reached on.
#[derive(Clone, Debug)]
pub struct Report {
    pub verdict: Verdict,
    pub keys: usize,
    /// Operations searched (after failed operations and unknown reads were dropped).
    pub ops: usize,
    /// Operations dropped: failed, unknown reads, unknown writes no answer depends on.
    pub dropped: usize,
    /// Search steps, summed over keys.
    pub steps: u64,
    pub took: Duration,
}

impl Report {
    pub fn is_linearizable(&self) -> bool {
        self.verdict == Verdict::Linearizable
    }
}

/// Default search budget per key: far more than a valid history of a few thousand operations
/// needs (the search of one is nearly linear); a budget that runs out is reported, not hidden.
pub const DEFAULT_MAX_STEPS_PER_KEY: u64 = 20_000_000;

/// Checks `events` against the register model, key by key.
pub fn check<V: Clone + Eq + Hash + Debug>(events: &[Event<V>]) -> Report {
    check_with_budget(events, DEFAULT_MAX_STEPS_PER_KEY)
}

/// [`check`] with a search budget of `max_steps_per_key`.
pub fn check_with_budget<V: Clone + Eq + Hash + Debug>(
    events: &[Event<V>],
    max_steps_per_key: u64,
) -> Report {
    let started = Instant::now();
    let origin = events.iter().map(|e| e.invoked).min();
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        by_key.entry(e.key.as_str()).or_default().push(i);
    }
    // A stable order, so that a report names the same key every run.
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    let mut report = Report {
        verdict: Verdict::Linearizable,
        keys: keys.len(),
        ops: 0,
        dropped: 0,
        steps: 0,
        took: Duration::ZERO,
    };
    for key in keys {
        let origin = origin.expect("a key implies an event");
        let prepared = prepare(events, &by_key[key], origin);
        report.ops += prepared.ops.len();
        report.dropped += prepared.dropped;
        let searched = match &prepared.early_violation {
            Some(why) => Searched::Violation(why.clone()),
            None => search(&prepared.ops, max_steps_per_key),
        };
        let steps = match &searched {
            Searched::Linearizable(steps) | Searched::Stuck(_, steps) => *steps,
            _ => 0,
        };
        report.steps += steps;
        match searched {
            Searched::Linearizable(_) => {}
            Searched::Violation(why) => {
                report.verdict = Verdict::NotLinearizable(format!("key {key:?}: {why}"));
                break;
            }
            Searched::Stuck(stuck, _) => {
                report.verdict = Verdict::NotLinearizable(format!(
                    "key {key:?}: no linearization of its {} operations. {}",
                    prepared.ops.len(),
                    explain(&stuck, events, &prepared, origin)
                ));
                break;
            }
            Searched::OutOfBudget(steps, stuck) => {
                report.steps += steps;
                let unbounded = prepared.ops.iter().filter(|o| o.ret.is_none()).count();
                report.verdict = Verdict::Inconclusive(format!(
                    "key {key:?}: no verdict within {steps} search steps ({} operations, {} \
                     of them with an unknown outcome and no completion bound). {}",
                    prepared.ops.len(),
                    unbounded,
                    stuck.map_or(String::new(), |s| explain(&s, events, &prepared, origin))
                ));
                break;
            }
        }
    }
    report.took = started.elapsed();
    report
}

/// The register's state: `None` absent, else the index of the value in the key's value table.
type State = Option<u32>;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Set(u32),
    Get(State),
    Delete(Option<bool>),
}

/// An operation of one key, ready for the search.
#[derive(Clone, Debug)]
struct KeyOp {
    kind: Kind,
    /// Nanoseconds since the history's first invocation.
    call: u64,
    /// `None`: no completion bound (an unknown write).
    ret: Option<u64>,
    /// Its index in the caller's events.
    event: usize,
    /// For an unbounded write: its class of interchangeable operations (see `search`).
    class: Option<usize>,
}

/// The value of every `set` whose value no read returned (and no other set wrote): one value
/// for all of them, since only "the key holds something" can be observed of them (by a delete),
/// so states differing only in which of them was last are the same state.
const UNREAD: u32 = u32::MAX;
/// Classes of unbounded writes that can stand in for each other ([`KeyOp::class`]).
const CLASS_UNREAD_SET: usize = 0;
const CLASS_UNKNOWN_DELETE: usize = 1;

struct Prepared<'v, V> {
    ops: Vec<KeyOp>,
    /// The key's values, indexed by the `u32` of [`Kind::Set`] and [`State`].
    values: Vec<&'v V>,
    dropped: usize,
    /// A violation found without searching (a read of a value no one wrote).
    early_violation: Option<String>,
}

fn nanos(t: Instant, origin: Instant) -> u64 {
    t.saturating_duration_since(origin).as_nanos() as u64
}

/// Interns the key's values, drops what carries no information, and applies the two rewrites
/// of unknown writes (module docs).
fn prepare<'v, V: Clone + Eq + Hash + Debug>(
    events: &'v [Event<V>],
    idx: &[usize],
    origin: Instant,
) -> Prepared<'v, V> {
    let mut ids: HashMap<&V, u32> = HashMap::new();
    let mut values: Vec<&V> = Vec::new();
    let mut intern = |v: &'v V| -> u32 {
        *ids.entry(v).or_insert_with(|| {
            values.push(v);
            (values.len() - 1) as u32
        })
    };
    let mut ops = Vec::new();
    let mut dropped = 0;
    for &i in idx {
        let e = &events[i];
        let kind = match (&e.op, e.outcome) {
            (_, Outcome::Failed) | (Op::Get(_), Outcome::Unknown) => {
                dropped += 1;
                continue;
            }
            (Op::Set(v), _) => Kind::Set(intern(v)),
            (Op::Get(r), _) => Kind::Get(r.as_ref().map(&mut intern)),
            // Nothing was answered, so nothing was observed.
            (Op::Delete(_), Outcome::Unknown) => Kind::Delete(None),
            (Op::Delete(existed), Outcome::Ok) => Kind::Delete(*existed),
        };
        let call = nanos(e.invoked, origin);
        let ret = match e.outcome {
            Outcome::Ok => Some(nanos(e.completed, origin).max(call)),
            _ => None,
        };
        ops.push(KeyOp {
            kind,
            call,
            ret,
            event: i,
            class: None,
        });
    }

    // Who wrote each value, and when each value was first read back.
    let mut writers: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut first_read_done: HashMap<u32, u64> = HashMap::new();
    for (o, op) in ops.iter().enumerate() {
        match op.kind {
            Kind::Set(v) => writers.entry(v).or_default().push(o),
            Kind::Get(Some(v)) => {
                let t = op.ret.expect("reads kept are acknowledged");
                let first = first_read_done.entry(v).or_insert(t);
                *first = (*first).min(t);
            }
            _ => {}
        }
    }
    // A read of a value no set wrote, or read back before its only writer was even invoked:
    // no search needed, and the plainest report.
    for op in &ops {
        if let Kind::Get(Some(v)) = op.kind {
            let w = writers.get(&v).map(Vec::as_slice).unwrap_or(&[]);
            let shown = values[v as usize];
            let early = match w {
                [] => Some(format!(
                    "a read returned {shown:?}, which no set that was acknowledged or may have \
                     been applied wrote (event #{})",
                    op.event
                )),
                [only] if op.ret.is_some_and(|r| r < ops[*only].call) => Some(format!(
                    "a read returned {shown:?} (event #{}) before the set that wrote it \
                     (event #{}) was invoked",
                    op.event, ops[*only].event
                )),
                _ => None,
            };
            if early.is_some() {
                return Prepared {
                    ops,
                    values,
                    dropped,
                    early_violation: early,
                };
            }
        }
    }
    // The rewrites hold only for a value written once: with two writers a read cannot say
    // which one it saw.
    let observing_delete_after = |t: u64| {
        ops.iter()
            .any(|o| matches!(o.kind, Kind::Delete(Some(true))) && o.ret.is_none_or(|r| r >= t))
    };
    let mut keep = vec![true; ops.len()];
    let mut bound: Vec<Option<u64>> = ops.iter().map(|o| o.ret).collect();
    for (o, op) in ops.iter().enumerate() {
        let (Kind::Set(v), None) = (op.kind, op.ret) else {
            continue;
        };
        if writers[&v].len() != 1 {
            continue;
        }
        match first_read_done.get(&v) {
            // Read back: it took effect before that read completed.
            Some(&t) if t >= op.call => bound[o] = Some(t),
            // Read back before it was invoked: caught above.
            Some(_) => {}
            // Never read: only a delete's "it held a value" could depend on it.
            None if !observing_delete_after(op.call) => keep[o] = false,
            None => {}
        }
    }
    let unread = |v: u32| writers[&v].len() == 1 && !first_read_done.contains_key(&v);
    let mut kept = Vec::with_capacity(ops.len());
    for (o, mut op) in ops.into_iter().enumerate() {
        if !keep[o] {
            dropped += 1;
            continue;
        }
        op.ret = bound[o];
        if let Kind::Set(v) = op.kind {
            if unread(v) {
                op.kind = Kind::Set(UNREAD);
            }
        }
        if op.ret.is_none() {
            op.class = match op.kind {
                Kind::Set(UNREAD) => Some(CLASS_UNREAD_SET),
                Kind::Delete(None) => Some(CLASS_UNKNOWN_DELETE),
                _ => None,
            };
        }
        kept.push(op);
    }
    Prepared {
        ops: kept,
        values,
        dropped,
        early_violation: None,
    }
}

/// Applies `kind` to the register; `None` when the model refuses the answer it carries.
fn apply(state: State, kind: Kind) -> Option<State> {
    match kind {
        Kind::Set(v) => Some(Some(v)),
        Kind::Get(r) => (r == state).then_some(state),
        Kind::Delete(existed) => match existed {
            Some(e) if e != state.is_some() => None,
            _ => Some(None),
        },
    }
}

/// Where the deepest attempt of a failed search stopped.
struct Stuck {
    /// The operations it had ordered, in order.
    linearized: Vec<usize>,
    /// The operation whose completion came before it could be placed.
    op: usize,
    state: State,
    /// The operations pending at that point (their calls came before that completion).
    pending: Vec<usize>,
}

enum Searched {
    Linearizable(u64),
    Violation(String),
    Stuck(Stuck, u64),
    /// Steps taken, and where the deepest attempt so far stopped.
    OutOfBudget(u64, Option<Stuck>),
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// An entry of the search's doubly linked list: an operation's call or its return.
#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
}

fn search(ops: &[KeyOp], max_steps: u64) -> Searched {
    let n = ops.len();
    // Entry 0 is the head; then a call and a return per operation, in time order.
    let mut order: Vec<(u64, u8, usize, bool)> = Vec::with_capacity(2 * n);
    for (o, op) in ops.iter().enumerate() {
        order.push((op.call, 0, o, true));
        // Unbounded returns go last; their order among themselves does not matter.
        order.push((op.ret.unwrap_or(u64::MAX), 1, o, false));
    }
    order.sort_unstable();
    let mut ent = vec![
        Entry {
            op: NIL,
            is_call: false,
            prev: NIL,
            next: NIL,
        };
        2 * n + 1
    ];
    let mut call_of = vec![0; n];
    let mut ret_of = vec![0; n];
    for (pos, &(_, _, o, is_call)) in order.iter().enumerate() {
        let e = pos + 1;
        ent[e] = Entry {
            op: o,
            is_call,
            prev: pos,
            next: if pos + 1 < order.len() { e + 1 } else { NIL },
        };
        if is_call {
            call_of[o] = e;
        } else {
            ret_of[o] = e;
        }
    }
    ent[HEAD].next = if n > 0 { 1 } else { NIL };

    fn unlink(ent: &mut [Entry], e: usize) {
        let (p, n) = (ent[e].prev, ent[e].next);
        ent[p].next = n;
        if n != NIL {
            ent[n].prev = p;
        }
    }
    // Undoes `unlink(e)`: valid in the reverse order of the unlinks (the stack's order).
    fn relink(ent: &mut [Entry], e: usize) {
        let (p, n) = (ent[e].prev, ent[e].next);
        ent[p].next = e;
        if n != NIL {
            ent[n].prev = e;
        }
    }

    // The operations that may go next: those called before the first pending return (the
    // return of an operation not yet linearized, which must come after them), tried in call
    // order. (Trying the earliest completion first was measured too: no faster overall.)
    //
    // Unbounded writes of one class are interchangeable: any linearization that places one of
    // them while an earlier one of its class is still pending stays valid with the two swapped
    // (both may take effect at any moment after their calls, and no read tells them apart). So
    // only the first pending one of each class is a candidate: without this, k of them pending
    // multiply the configurations by 2^k, and a history with many timeouts explodes.
    //
    // And an unbounded write is only placed where it is needed. Take any valid linearization
    // and remove, one at a time, each unbounded write whose removal leaves it valid; in what
    // remains, every unread set (class 0) finds the key empty and is followed at once by a
    // delete that found a value (nothing else observes it: no read returns its value), and every
    // unknown delete (class 1) finds a value and is followed at once by a read of nothing or a
    // delete that found nothing. So a linearization exists iff one of that shape does, and the
    // search only builds those: a class-0 write only on an empty key, a class-1 write only on a
    // full one, and after each only an operation that needs it. (Which class was placed last is
    // then part of a configuration: the memo key holds it.)
    //
    // Returns the candidates and the first pending return entry (`NIL`: none left).
    let candidates = |ent: &[Entry], out: &mut Vec<usize>, state: State, last: Option<usize>| {
        out.clear();
        let mut class_taken = [false; 2];
        let mut p = ent[HEAD].next;
        while p != NIL && ent[p].is_call {
            let o = ent[p].op;
            let needed = match last {
                Some(CLASS_UNREAD_SET) => matches!(ops[o].kind, Kind::Delete(Some(true))),
                Some(_) => matches!(ops[o].kind, Kind::Get(None) | Kind::Delete(Some(false))),
                None => true,
            };
            let fits = match ops[o].class {
                Some(CLASS_UNREAD_SET) => state.is_none(),
                Some(_) => state.is_some(),
                None => true,
            };
            match ops[o].class {
                _ if !needed || !fits => {}
                Some(c) if std::mem::replace(&mut class_taken[c], true) => {}
                _ => out.push(o),
            }
            p = ent[p].next;
        }
        p
    };

    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    // Memo: the states reached with each linearized set (a handful per set for a register),
    // with the class of the operation placed last.
    let mut seen: HashMap<Vec<u64>, Vec<(State, Option<usize>)>> = HashMap::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut steps: u64 = 0;
    let mut best: Option<Stuck> = None;
    let mut cands = Vec::new();
    // After a backtrack: the operation just taken back, whose candidates before it were tried.
    let mut resume_after: Option<usize> = None;
    'configs: loop {
        let last = stack.last().and_then(|&(o, _)| ops[o].class);
        let first_return = candidates(&ent, &mut cands, state, last);
        if first_return == NIL || ops[ent[first_return].op].ret.is_none() {
            // Every operation with a completion time is linearized; the rest may take effect
            // later, or never.
            return Searched::Linearizable(steps);
        }
        let from = match resume_after.take() {
            Some(o) => cands
                .iter()
                .position(|&c| c == o)
                .map_or(cands.len(), |i| i + 1),
            None => 0,
        };
        for &o in &cands[from..] {
            steps += 1;
            if steps > max_steps {
                return Searched::OutOfBudget(steps, best);
            }
            let Some(next) = apply(state, ops[o].kind) else {
                continue;
            };
            linearized[o / 64] |= 1 << (o % 64);
            let config = (next, ops[o].class);
            let new = match seen.get_mut(linearized.as_slice()) {
                Some(states) if states.contains(&config) => false,
                Some(states) => {
                    states.push(config);
                    true
                }
                None => {
                    seen.insert(linearized.clone(), vec![config]);
                    true
                }
            };
            if new {
                stack.push((o, state));
                state = next;
                unlink(&mut ent, call_of[o]);
                unlink(&mut ent, ret_of[o]);
                continue 'configs;
            }
            linearized[o / 64] &= !(1 << (o % 64));
        }
        // Nothing can go next: the operation of the first pending return cannot be placed
        // before it completes, on this path. Take back the last choice. (The deepest such
        // point is kept for the report; not the ends of paths cut short because an unbounded
        // write was not followed by what needs it: they say nothing of the history.)
        if last.is_none()
            && best
                .as_ref()
                .is_none_or(|b| stack.len() > b.linearized.len())
        {
            best = Some(Stuck {
                linearized: stack.iter().map(|&(o, _)| o).collect(),
                op: ent[first_return].op,
                state,
                pending: cands.clone(),
            });
        }
        let Some((o, before)) = stack.pop() else {
            return Searched::Stuck(best.expect("recorded just above"), steps);
        };
        linearized[o / 64] &= !(1 << (o % 64));
        state = before;
        relink(&mut ent, ret_of[o]);
        relink(&mut ent, call_of[o]);
        resume_after = Some(o);
    }
}

/// Where the deepest attempt stopped, in words.
fn explain<V: Debug>(
    stuck: &Stuck,
    events: &[Event<V>],
    p: &Prepared<'_, V>,
    origin: Instant,
) -> String {
    let show = |o: usize| describe(events, p, o, origin);
    let recent: Vec<String> = stuck
        .linearized
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|&o| show(o))
        .collect();
    let pending: Vec<String> = stuck.pending.iter().map(|&o| show(o)).collect();
    format!(
        "At best {} were ordered; then {} could not be: the register held {}.\n  last \
         ordered: {recent:#?}\n  others that could go next (none explains it): {pending:#?}",
        stuck.linearized.len(),
        show(stuck.op),
        held(stuck, events, p),
    )
}

/// The register's state at `stuck`, in words. (A value no read returned is one state for the
/// search; the last set placed says which it was.)
fn held<V: Debug>(stuck: &Stuck, events: &[Event<V>], p: &Prepared<'_, V>) -> String {
    match stuck.state {
        None => "nothing (absent)".into(),
        Some(UNREAD) => {
            let last_set = stuck
                .linearized
                .iter()
                .rev()
                .find(|&&o| matches!(p.ops[o].kind, Kind::Set(_)));
            match last_set.map(|&o| &events[p.ops[o].event].op) {
                Some(Op::Set(v)) => format!("{v:?} (which no read returned)"),
                _ => "a value no read returned".into(),
            }
        }
        Some(v) => format!("{:?}", p.values[v as usize]),
    }
}

fn describe<V: Debug>(
    events: &[Event<V>],
    p: &Prepared<'_, V>,
    o: usize,
    origin: Instant,
) -> String {
    let op = &p.ops[o];
    let e = &events[op.event];
    let secs = |t: Instant| t.saturating_duration_since(origin).as_secs_f64();
    let what = match (&e.op, e.outcome) {
        (Op::Set(v), _) => format!("set {v:?}"),
        (Op::Get(r), _) => format!("get -> {r:?}"),
        (Op::Delete(Some(true)), Outcome::Ok) => "delete (it held a value)".into(),
        (Op::Delete(Some(false)), Outcome::Ok) => "delete (absent)".into(),
        (Op::Delete(_), _) => "delete".into(),
    };
    let when = match op.ret {
        Some(_) if e.outcome == Outcome::Ok => format!(
            "invoked {:.6} s, completed {:.6} s",
            secs(e.invoked),
            secs(e.completed)
        ),
        Some(r) => format!(
            "invoked {:.6} s, outcome unknown, read back by {:.6} s",
            secs(e.invoked),
            r as f64 / 1e9
        ),
        None => format!("invoked {:.6} s, outcome unknown", secs(e.invoked)),
    };
    format!("event #{} client {}: {what} ({when})", op.event, e.client)
}
