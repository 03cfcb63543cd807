//! [`GraphBuilder`]: the background thread that links stored vectors into the HNSW graph, so
//! writes do not pay for graph construction.
//!
//! Linking costs about 100–200 µs of CPU per vector (a search with `ef_construction`
//! candidates), which under a sustained write load is as much CPU as the writes themselves.
//! So the builder gives way to writes:
//! - **it defers while writes are hot**: when more than [`HOT_DOCS_PER_SEC`] documents per
//!   second are being written, it waits (vectors not yet linked are searched exactly, so
//!   nothing is missed) — until the backlog reaches [`MAX_DEFERRED`], past which it links
//!   anyway, so the exact part of a semantic search stays bounded;
//! - **it runs at a lower CPU priority** (nice +[`BUILDER_NICE`], Linux), so the backlog is
//!   linked with CPU time that requests do not want;
//! - it takes the vector index's write lock for [`BUILD_CHUNK`] link at a time (a few hundred
//!   µs at most), so searches and writers interleave with it.
//!
//! It sleeps when nothing waits. When idle, caught up and [`SAVE_AFTER_CHANGES`] changes past
//! the last save (at most every [`SAVE_MIN_INTERVAL`]), it saves the graph file
//! (`hnsw::persist`), which bounds what a crash leaves to link again. Dropping it stops and
//! joins the thread.

use super::VectorIndex;
use crate::error::{Error, Result};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Vectors the background builder links per lock hold (bounds how long searches and writers
/// wait for it).
pub const BUILD_CHUNK: usize = 1;
/// Write rate (documents per second) above which linking is deferred.
pub const HOT_DOCS_PER_SEC: u64 = 1_000;
/// Backlog of unlinked vectors past which the builder links even while writes are hot.
pub const MAX_DEFERRED: usize = 50_000;
/// Niceness added to the builder thread (Linux only; elsewhere it runs at normal priority).
pub const BUILDER_NICE: i32 = 10;
/// How often the write rate is sampled, and how long a deferring builder sleeps.
const RATE_WINDOW: Duration = Duration::from_millis(20);
/// Writes count as hot until this long after the last window above [`HOT_DOCS_PER_SEC`]
/// (group commits arrive in bursts, with quiet windows between them).
const HOT_FOR: Duration = Duration::from_millis(250);
/// Sleep when nothing waits to be linked (a write wakes the builder earlier).
const IDLE_SLEEP: Duration = Duration::from_millis(50);
/// Changes (upserts, removals, links) after which an idle builder saves the graph file, so a
/// crash leaves at most about this many vectors to link again at the next open.
pub const SAVE_AFTER_CHANGES: u64 = 20_000;
/// Least time between two saves (each writes the whole graph).
pub const SAVE_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Saves the graph (the builder calls it when idle; errors are the saver's to report).
pub type GraphSaver = Box<dyn Fn(&RwLock<VectorIndex>) + Send>;

/// When an idle builder saves: after `changes` unsaved changes, at most every `interval`.
#[derive(Debug, Clone, Copy)]
pub struct SavePolicy {
    pub changes: u64,
    pub interval: Duration,
}

impl Default for SavePolicy {
    fn default() -> Self {
        SavePolicy {
            changes: SAVE_AFTER_CHANGES,
            interval: SAVE_MIN_INTERVAL,
        }
    }
}

/// The background thread that links stored vectors into the graph.
pub struct GraphBuilder {
    stop: Arc<AtomicBool>,
    /// Documents written so far (for the write rate).
    written: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl GraphBuilder {
    pub fn spawn(
        index: Arc<RwLock<VectorIndex>>,
        saver: GraphSaver,
        policy: SavePolicy,
    ) -> Result<GraphBuilder> {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), written.clone());
        let handle = std::thread::Builder::new()
            .name("kvstore-hnsw-build".into())
            .spawn(move || {
                lower_priority();
                run(&index, &flag, &count, &saver, policy);
            })
            .map_err(|e| Error::Embedder(format!("cannot start the HNSW builder thread: {e}")))?;
        Ok(GraphBuilder {
            stop,
            written,
            handle: Some(handle),
        })
    }

    /// Tells the builder that `docs` documents were written (their vectors wait to be linked).
    pub fn wrote(&self, docs: usize) {
        self.written.fetch_add(docs as u64, Ordering::Relaxed);
        self.wake();
    }

    pub fn wake(&self) {
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }
}

fn run(
    index: &RwLock<VectorIndex>,
    stop: &AtomicBool,
    written: &AtomicU64,
    saver: &GraphSaver,
    policy: SavePolicy,
) {
    let mut saved_at = Instant::now();
    let mut sampled_at = Instant::now();
    let mut sampled = written.load(Ordering::Relaxed);
    let mut hot_until: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        let dt = now - sampled_at;
        if dt >= RATE_WINDOW {
            let n = written.load(Ordering::Relaxed);
            let rate = (n - sampled) as f64 / dt.as_secs_f64();
            if rate > HOT_DOCS_PER_SEC as f64 {
                hot_until = Some(now + HOT_FOR);
            }
            (sampled, sampled_at) = (n, now);
        }
        let hot = hot_until.is_some_and(|t| now < t);
        let (pending, unsaved) = {
            let vi = index.read();
            (vi.pending(), vi.unsaved_changes())
        };
        if pending == 0 {
            // Idle and caught up: the moment to save, if enough changed (never while writes
            // are hot: the save copies the graph and writes it whole).
            if !hot && unsaved >= policy.changes && saved_at.elapsed() >= policy.interval {
                saver(index);
                saved_at = Instant::now();
                continue;
            }
            std::thread::park_timeout(IDLE_SLEEP);
            continue;
        }
        if hot && pending < MAX_DEFERRED {
            std::thread::park_timeout(RATE_WINDOW);
            continue;
        }
        // Short lock holds: searches and writers interleave with the building.
        index.write().build_step(BUILD_CHUNK);
    }
}

/// Lowers the calling thread's CPU priority (best effort).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; `setpriority(PRIO_PROCESS, tid)` changes
    // the niceness of that thread only on Linux. Failure is harmless (normal priority).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let cur = libc::getpriority(libc::PRIO_PROCESS, tid);
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, (cur + BUILDER_NICE).min(19));
    }
}

impl Drop for GraphBuilder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::HnswParams;
    use std::sync::atomic::AtomicUsize;

    /// Once the backlog is linked and enough changed, the idle builder saves, and only then
    /// (a save is a whole-graph write).
    #[test]
    fn an_idle_builder_saves_once_enough_changed() {
        let mut vi = VectorIndex::new(2, HnswParams::default(), 0);
        vi.set_deferred(true);
        let index = Arc::new(RwLock::new(vi));
        let saves = Arc::new(AtomicUsize::new(0));
        let counted = saves.clone();
        let saver: GraphSaver = Box::new(move |vi| {
            let mut g = vi.write();
            assert_eq!(g.pending(), 0, "saved before the backlog was linked");
            let at = g.changes_now();
            g.mark_saved(at);
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let policy = SavePolicy {
            changes: 150,
            interval: Duration::ZERO,
        };
        let b = GraphBuilder::spawn(index.clone(), saver, policy).unwrap();
        for i in 0..50u32 {
            let a = i as f32 * 0.1;
            index.write().upsert(&i.to_be_bytes(), &[a.cos(), a.sin()]);
        }
        b.wake();
        // Waits for the backlog to be linked (the builder runs at a lower priority: on a busy
        // machine that takes a while), then a little more.
        let t = Instant::now();
        while index.read().pending() > 0 && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(index.read().pending(), 0);
        std::thread::sleep(Duration::from_millis(200));
        // 50 upserts + 50 links: under the threshold.
        assert_eq!(saves.load(Ordering::SeqCst), 0);
        for i in 50..100u32 {
            let a = i as f32 * 0.1;
            index.write().upsert(&i.to_be_bytes(), &[a.cos(), a.sin()]);
        }
        b.wake();
        let t = Instant::now();
        while saves.load(Ordering::SeqCst) == 0 && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(saves.load(Ordering::SeqCst), 1);
        assert_eq!(index.read().unsaved_changes(), 0);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            saves.load(Ordering::SeqCst),
            1,
            "saved again with nothing changed"
        );
    }
}
