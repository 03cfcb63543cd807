//! Raft mode is linearizable under faults: a Jepsen-style test of three real `kvstore`
//! processes on loopback.
//!
//! - **Clients**: four concurrent clients send random sets (each value unique), linearizable
//!   gets and deletes on four keys, each to a random node, and record every operation with its
//!   invocation and completion times and its outcome: acknowledged, failed (a 4xx, or a
//!   connection never made: nothing was sent), or unknown (a timeout, a 5xx, a connection lost
//!   mid-request: it may still take effect).
//! - **Nemesis**: meanwhile, one fault at a time, in a shuffled cycle: isolate the primary,
//!   isolate a random node (iptables, `common/partition.rs`), kill -9 the primary, kill -9 a
//!   random node — each held 2 to 4 s (a restart follows a kill), then healed, with a quiet
//!   moment between two.
//! - **Checker**: after a final linearizable read of every key through every node, the whole
//!   history goes to the checker (`common/linearizability.rs`); the test fails if it is not
//!   linearizable, if too few operations succeeded for that to mean anything, or if the
//!   replicas do not converge.
//!
//! And the pipeline can fail: reads with `?consistency=stale` from a primary cut off from the
//! others, after the majority moved on, must be — and are — reported non-linearizable.
//!
//! `KVSTORE_LIN_SECS` sets the nemesis's duration (default 20 s here; the `#[ignore]`d long
//! version, 300 s); `KVSTORE_LIN_SEED` replays the clients' and the nemesis's choices (timing
//! still varies). Each run prints its seed.

mod common;

use common::cluster::{loopback_hosts, Cluster, ONE_CLUSTER};
use common::linearizability::{check, Event, Op, Outcome, Verdict};
use common::partition::Firewall;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
/// Few keys, so that clients contend on each.
const KEYS: usize = 4;
/// A client gives up on a request after this (then its outcome is unknown). Below the
/// server's own timeouts (5 s writes, 3 s reads), so a client stuck on a cut-off node moves on.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(1500);

/// Sends `op` on `key` to the node at `base` and records what came of it. `query` is appended
/// to a get's path (`?consistency=stale` for the stale reads).
async fn perform(
    http: &reqwest::Client,
    base: &str,
    client: usize,
    key: &str,
    op: Op<String>,
    query: &str,
) -> Event<String> {
    let invoked = Instant::now();
    let sent = match &op {
        Op::Set(v) => {
            http.post(format!("{base}/set"))
                .json(&json!({ "key": key, "value": v }))
                .send()
                .await
        }
        Op::Get(_) => http.get(format!("{base}/get/{key}{query}")).send().await,
        Op::Delete(_) => http.delete(format!("{base}/delete/{key}")).send().await,
    };
    let answer = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            resp.json::<Value>().await.map(|body| (status, body))
        }
        Err(e) => Err(e),
    };
    let completed = Instant::now();
    let (op, outcome) = match answer {
        // The connection was never made: the request was not sent.
        Err(e) if e.is_connect() => (op, Outcome::Failed),
        Err(_) => (op, Outcome::Unknown),
        Ok((status, body)) => classify(op, status, &body),
    };
    Event {
        client,
        key: key.to_string(),
        op,
        outcome,
        invoked,
        completed,
    }
}

/// What an answer means for the history.
fn classify(op: Op<String>, status: u16, body: &Value) -> (Op<String>, Outcome) {
    // 404 "key not found" answers a get of an absent key, and a delete that found nothing.
    let absent = status == 404
        && body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("key not found"));
    match op {
        Op::Get(_) if status == 200 => match body["value"].as_str() {
            Some(v) => (Op::Get(Some(v.to_string())), Outcome::Ok),
            None => (Op::Get(None), Outcome::Unknown),
        },
        Op::Get(_) if absent => (Op::Get(None), Outcome::Ok),
        Op::Delete(_) if status == 200 => (Op::Delete(Some(true)), Outcome::Ok),
        Op::Delete(_) if absent => (Op::Delete(Some(false)), Outcome::Ok),
        Op::Set(_) if status == 200 => (op, Outcome::Ok),
        // A refusal before anything was proposed (bad input): not applied.
        op @ (Op::Set(_) | Op::Delete(_)) if (400..500).contains(&status) => (op, Outcome::Failed),
        // 503 "no quorum" and the like: it may still be applied.
        op => (op, Outcome::Unknown),
    }
}

/// One client: random operations on random nodes until `stop`.
async fn client(
    id: usize,
    urls: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Vec<Event<String>> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut events = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let node = rng.gen_range(0..urls.len());
        let key = format!("k{}", rng.gen_range(0..KEYS));
        let op = match rng.gen_range(0..100) {
            0..=49 => Op::Get(None),
            50..=89 => Op::Set(format!("c{id}-{n}")),
            _ => Op::Delete(None),
        };
        n += 1;
        let e = perform(&http, &urls[node], id, &key, op, "").await;
        let ok = e.outcome == Outcome::Ok;
        events.push(e);
        if !ok {
            // As a real client would: a refused connection or a 503 comes back at once, and
            // without a pause the clients would only hammer a dead node (and the 2 cores).
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    events
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    IsolatePrimary,
    IsolateANode,
    KillPrimary,
    KillANode,
}

/// Injects faults, one at a time, until `until`; leaves the cluster whole and healed. Returns
/// what it did, for the report.
async fn nemesis(c: &mut Cluster, fw: &Firewall, rng: &mut StdRng, until: Instant) -> Vec<String> {
    let origin = Instant::now();
    let mut log = Vec::new();
    let mut cycle: Vec<Fault> = Vec::new();
    // One fault of each kind at least, however short the run; after that, no fault may start
    // that would not end (4 s at most, plus a restart) before `until`.
    while log.len() < 4 || Instant::now() + Duration::from_secs(5) < until {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(500..1500))).await;
        if cycle.is_empty() {
            cycle = vec![
                Fault::IsolatePrimary,
                Fault::IsolateANode,
                Fault::KillPrimary,
                Fault::KillANode,
            ];
            cycle.shuffle(rng);
        }
        let fault = cycle.pop().expect("refilled above");
        let random = rng.gen_range(0..c.nodes.len());
        let target = match fault {
            Fault::IsolatePrimary | Fault::KillPrimary => {
                c.current_primary().await.unwrap_or(random)
            }
            Fault::IsolateANode | Fault::KillANode => random,
        };
        let hold = Duration::from_millis(rng.gen_range(2000..4000));
        let at = origin.elapsed();
        match fault {
            Fault::IsolatePrimary | Fault::IsolateANode => {
                fw.isolate(c.hosts[target], &c.hosts);
                tokio::time::sleep(hold).await;
                fw.heal();
            }
            Fault::KillPrimary | Fault::KillANode => {
                c.kill9_node(target);
                tokio::time::sleep(hold).await;
                c.respawn(target).await;
            }
        }
        log.push(format!(
            "{:>6.1} s: {fault:?} node{} for {:.1} s",
            at.as_secs_f64(),
            target + 1,
            hold.as_secs_f64()
        ));
    }
    log
}

/// Writes `events` to `path`, one a line in invocation order, times in seconds from the first
/// (for a failed run: the checker's report names events by their number here).
fn dump(events: &[Event<String>], path: &std::path::Path) {
    let origin = events.iter().map(|e| e.invoked).min();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].invoked);
    let mut text = String::new();
    for i in order {
        let e = &events[i];
        let t = |x: Instant| origin.map_or(0.0, |o| x.saturating_duration_since(o).as_secs_f64());
        text += &format!(
            "#{i} client {} {:.4}..{:.4} {} {:?} {:?}\n",
            e.client,
            t(e.invoked),
            t(e.completed),
            e.key,
            e.op,
            e.outcome
        );
    }
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn seed() -> u64 {
    match std::env::var("KVSTORE_LIN_SEED") {
        Ok(s) => s.parse().expect("KVSTORE_LIN_SEED is a number"),
        Err(_) => rand::thread_rng().gen(),
    }
}

/// Runs the clients against the nemesis for `secs`, then checks the history.
async fn clients_against_the_nemesis(secs: u64) {
    let _one = ONE_CLUSTER.lock().await;
    let Some(fw) = Firewall::for_test("raft_linearizability") else {
        return;
    };
    let seed = seed();
    eprintln!("nemesis for {secs} s, seed {seed} (replay with KVSTORE_LIN_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Cluster::start_with_hosts(loopback_hosts(3), Vec::new()).await;
    c.form_from_node1().await;
    let urls: Arc<Vec<String>> = Arc::new((0..3).map(|i| c.url(i, "")).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (urls, stop) = (Arc::clone(&urls), Arc::clone(&stop));
            tokio::spawn(client(id, urls, stop, seed.wrapping_add(id as u64 + 1)))
        })
        .collect();
    let faults = nemesis(&mut c, &fw, &mut rng, started + Duration::from_secs(secs)).await;
    // A quiet moment with every node up and every link whole, then the clients stop.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut events = Vec::new();
    for h in clients {
        events.extend(h.await.expect("client task"));
    }
    let ran = started.elapsed();

    // Final reads: every key through every node, recorded too — an acknowledged write lost at
    // the end shows here.
    c.wait_primary().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for k in 0..KEYS {
        let key = format!("k{k}");
        for (i, url) in urls.iter().enumerate() {
            let mut tries = 0;
            loop {
                let e = perform(&http, url, 100 + i, &key, Op::Get(None), "").await;
                let ok = e.outcome == Outcome::Ok;
                events.push(e);
                tries += 1;
                if ok {
                    break;
                }
                assert!(tries < 20, "node{} never answered a read of {key}", i + 1);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    let count = |f: &dyn Fn(&Event<String>) -> bool| events.iter().filter(|e| f(e)).count();
    let acked_writes = count(&|e| e.outcome == Outcome::Ok && !matches!(e.op, Op::Get(_)));
    let acked_reads = count(&|e| e.outcome == Outcome::Ok && matches!(e.op, Op::Get(_)));
    let reads_of_values = count(&|e| e.outcome == Outcome::Ok && matches!(e.op, Op::Get(Some(_))));
    let unknown = count(&|e| e.outcome == Outcome::Unknown);
    let failed = count(&|e| e.outcome == Outcome::Failed);
    let report = check(&events);
    eprintln!(
        "{} operations in {ran:.1?}: {acked_writes} writes and {acked_reads} reads acknowledged \
         ({reads_of_values} reads of a value), {unknown} unknown, {failed} failed; checked {} \
         ({} dropped) over {} keys in {:?}, {} search steps\nfaults:\n  {}",
        events.len(),
        report.ops,
        report.dropped,
        report.keys,
        report.took,
        report.steps,
        faults.join("\n  ")
    );
    match &report.verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(why) | Verdict::Inconclusive(why) => {
            let path = std::env::temp_dir().join(format!("kvstore-lin-history-{seed}.txt"));
            dump(&events, &path);
            panic!(
                "seed {seed}: {:?}: {why}\nfaults:\n  {}\nthe history: {}",
                report.verdict,
                faults.join("\n  "),
                path.display()
            )
        }
    }
    // Not vacuous: the faults happened and bit, and enough succeeded around them.
    assert!(faults.len() >= 4, "{faults:?}");
    assert!(unknown + failed > 0, "no fault made any request fail");
    let enough = 3 * secs as usize;
    assert!(acked_writes >= enough, "{acked_writes} writes acknowledged");
    assert!(
        reads_of_values >= enough,
        "{reads_of_values} reads of a value"
    );

    // Every replica converges on the value a linearizable read gives. (Compared with a read
    // made now, not with the final reads above: a write whose outcome was unknown may still be
    // applied after them — a request delayed in a cut link can arrive late.)
    for k in 0..KEYS {
        let key = format!("k{k}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = |(status, body): (u16, Value)| match status {
                200 => Some(body["value"].as_str().map(String::from)),
                404 => Some(None),
                _ => None,
            };
            let truth = value(c.get(0, &key, false).await);
            let mut replicas = Vec::new();
            for i in 0..3 {
                replicas.push(value(c.get(i, &key, true).await));
            }
            if truth.is_some() && replicas.iter().all(|r| *r == truth) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{key}: the replicas hold {replicas:?}, a linearizable read gives {truth:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The CI version: about 30 s in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_under_partitions_and_kills_are_linearizable() {
    let secs = std::env::var("KVSTORE_LIN_SECS").map_or(20, |s| s.parse().unwrap());
    clients_against_the_nemesis(secs).await;
}

/// The long version: `KVSTORE_LIN_SECS=600 cargo test -p kvstore-server --test
/// raft_linearizability -- --ignored --nocapture` (default 300 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn random_operations_under_partitions_and_kills_are_linearizable_long() {
    let secs = std::env::var("KVSTORE_LIN_SECS").map_or(300, |s| s.parse().unwrap());
    clients_against_the_nemesis(secs).await;
}

/// The pipeline can fail: a stale read (`?consistency=stale`) from a primary cut off from the
/// others, after the majority acknowledged a newer value, goes into the history as it came, and
/// the checker reports it — while the same history without it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_from_an_isolated_old_primary_are_reported_non_linearizable() {
    let _one = ONE_CLUSTER.lock().await;
    let Some(fw) = Firewall::for_test("raft_linearizability") else {
        return;
    };
    let c = Cluster::start_with_hosts(loopback_hosts(3), Vec::new()).await;
    c.form_from_node1().await;
    let old = c.wait_primary().await;
    let majority: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut events = Vec::new();
    let first = perform(&http, &c.url(old, ""), 0, "k", Op::Set("v1".into()), "").await;
    assert_eq!(first.outcome, Outcome::Ok, "{first:?}");
    events.push(first);

    fw.isolate(c.hosts[old], &c.hosts);
    let new = c.primary_among(&majority).await;
    // Until one is acknowledged (the first may meet the end of the election: it is recorded,
    // whatever came of it).
    for attempt in 0.. {
        let e = perform(
            &http,
            &c.url(new, ""),
            1,
            "k",
            Op::Set(format!("v2-{attempt}")),
            "",
        )
        .await;
        let ok = e.outcome == Outcome::Ok;
        events.push(e);
        if ok {
            break;
        }
        assert!(
            attempt < 10,
            "the majority acknowledged no write: {events:?}"
        );
    }
    let stale = perform(
        &http,
        &c.url(old, ""),
        2,
        "k",
        Op::Get(None),
        "?consistency=stale",
    )
    .await;
    assert_eq!(stale.op, Op::Get(Some("v1".into())), "{stale:?}");
    let fresh = perform(&http, &c.url(new, ""), 3, "k", Op::Get(None), "").await;
    assert_eq!(fresh.outcome, Outcome::Ok, "{fresh:?}");
    fw.heal();

    let mut with_stale = events.clone();
    with_stale.push(stale);
    with_stale.push(fresh.clone());
    events.push(fresh);
    let without = check(&events);
    assert_eq!(without.verdict, Verdict::Linearizable, "{events:?}");
    match check(&with_stale).verdict {
        Verdict::NotLinearizable(why) => {
            eprintln!("caught, as it must be:\n{why}");
            assert!(why.contains("get -> Some(\"v1\")"), "{why}");
        }
        other => panic!("a stale read passed the checker: {other:?}"),
    }
}
