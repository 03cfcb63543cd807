//! Backup and restore with real `kvstore` processes: `kvstore backup` of a node under concurrent
//! writers, flushes and compactions (and an older checkpoint left open on it), `kvstore restore`
//! into a new data directory, and a node served from it, which holds a cut of the source's
//! history consistent with real time (every write acknowledged before the backup began, none
//! begun after it ended, no write without all those acknowledged before it began) and the same
//! documents and search results; damaged backups and non-empty targets refused with D
//! untouched; the `/admin/checkpoint` endpoints' answers and errors, start-up and shutdown
//! cleanup, and expiry after the idle timeout.

mod common;

use common::{call, expect_error, http, start, TestServer, BIN};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `kvstore <args>` on a blocking thread (so the writers' tasks keep running).
async fn kv(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

fn args(a: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<String> {
    a.iter()
        .map(|s| s.as_ref().to_string_lossy().into_owned())
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

/// Every key and value under `prefix`, following pages.
async fn scan_all(s: &TestServer, prefix: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut start: Option<String> = None;
    loop {
        let mut q = vec![("limit", "1000".to_string())];
        if !prefix.is_empty() {
            q.push(("prefix", prefix.to_string()));
        }
        if let Some(st) = &start {
            q.push(("start", st.clone()));
        }
        let (st, b) = call(http().get(s.url("/scan")).query(&q)).await;
        assert_eq!(st, 200, "{b}");
        for kv in b["items"].as_array().unwrap() {
            out.insert(
                kv["key"].as_str().unwrap().to_string(),
                kv["value"].as_str().unwrap().to_string(),
            );
        }
        match b["next"].as_str() {
            Some(n) => start = Some(n.to_string()),
            None => return out,
        }
    }
}

async fn search_keys(s: &TestServer, q: &str) -> Vec<String> {
    let (st, b) = call(
        http()
            .get(s.url("/search"))
            .query(&[("q", q), ("k", "1000")]),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let mut keys: Vec<String> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

async fn bulk(s: &TestServer, items: &[(String, String)]) {
    let (st, b) = call(
        http()
            .post(s.url("/bulk_set"))
            .json(&json!({ "items": items })),
    )
    .await;
    assert_eq!(st, 200, "{b}");
}

/// Documents: 0..300 flushed to tables, 300..400 only in the WAL, one overwritten, one deleted.
async fn preload(s: &TestServer) {
    let doc = |i: usize, word: &str| {
        (
            format!("doc/{i:04}"),
            format!("{word} document number {i} about topic{}", i % 7),
        )
    };
    for chunk in (0..300).collect::<Vec<_>>().chunks(100) {
        bulk(
            s,
            &chunk.iter().map(|&i| doc(i, "alpha")).collect::<Vec<_>>(),
        )
        .await;
    }
    assert_eq!(call(http().post(s.url("/admin/flush"))).await.0, 200);
    bulk(s, &(300..400).map(|i| doc(i, "bravo")).collect::<Vec<_>>()).await;
    bulk(
        s,
        &[("doc/0000".to_string(), "zulu overwritten alpha".to_string())],
    )
    .await;
    assert_eq!(
        call(http().delete(s.url("/delete/doc%2F0001"))).await.0,
        200
    );
}

/// One writer's history: for write `n`, when it was sent and when it was acknowledged.
#[derive(Default)]
struct History {
    sent: Vec<Instant>,
    acked: Vec<Option<Instant>>,
}

impl History {
    fn acked_count(&self) -> usize {
        self.acked.iter().take_while(|a| a.is_some()).count()
    }
}

const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_restores_a_consistent_cut() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (src, backup, dst) = (
        tmp.path().join("src"),
        tmp.path().join("backup"),
        tmp.path().join("restored"),
    );
    let a = start(&src, &[]).await;
    // 4 MiB of large values first, so tables span many blocks and downloads many chunks
    for i in 0..4 {
        let items: Vec<(String, String)> = (0..16)
            .map(|j| {
                (
                    format!("blob/{i}{j:02}"),
                    format!("filler{j} ").repeat(8 * 1024),
                )
            })
            .collect();
        bulk(&a, &items).await;
    }
    preload(&a).await;
    // An abandoned checkpoint stays open on the node: the backup must not be served from it.
    let (st, abandoned) = call(http().post(a.url("/admin/checkpoint"))).await;
    assert_eq!(st, 200, "{abandoned}");

    // Writers: writer t writes w<t>/<n> and c<t> = n in one batch, n = 0, 1, 2... each after
    // the previous one was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let histories: Vec<Arc<Mutex<History>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let mut tasks = Vec::new();
    for (t, h) in histories.iter().enumerate() {
        let (h, stop, url) = (Arc::clone(h), Arc::clone(&stop), a.url.clone());
        tasks.push(tokio::spawn(async move {
            let c = http();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                {
                    let mut h = h.lock().unwrap();
                    h.sent.push(Instant::now());
                    h.acked.push(None);
                }
                let r = c
                    .post(format!("{url}/bulk_set"))
                    .json(&json!({ "items": [[format!("w{t}/{n:06}"), n.to_string()],
                                             [format!("c{t}"), n.to_string()]] }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                h.lock().unwrap().acked[n] = Some(Instant::now());
                n += 1;
            }
        }));
    }
    // Flushes and compactions during the backup: tables come and go, WAL segments are deleted.
    let churn = {
        let (stop, url) = (Arc::clone(&stop), a.url.clone());
        tokio::spawn(async move {
            let c = http();
            while !stop.load(Ordering::SeqCst) {
                for op in ["flush", "compact"] {
                    let r = c.post(format!("{url}/admin/{op}")).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                }
            }
        })
    };
    while histories
        .iter()
        .any(|h| h.lock().unwrap().acked_count() < 20)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let backup_began = Instant::now();
    let acked_before: Vec<usize> = histories
        .iter()
        .map(|h| h.lock().unwrap().acked_count())
        .collect();
    let o = kv(args(&[&"backup", &backup, &"--url", &a.url, &"--json"])).await;
    let sent_by_end: Vec<usize> = histories
        .iter()
        .map(|h| h.lock().unwrap().sent.len())
        .collect();
    let backup_secs = backup_began.elapsed().as_secs_f64();
    // A little more history after the backup, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    churn.await.unwrap();

    let report: Value = serde_json::from_str(ok(&o).trim()).unwrap();
    let seq = report["seq"].as_u64().unwrap();
    let mut on_disk: Vec<(String, u64)> = std::fs::read_dir(&backup)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .filter(|(n, _)| n != "backup.json")
        .collect();
    on_disk.sort();
    assert_eq!(report["files"], on_disk.len(), "{report} vs {on_disk:?}");
    assert_eq!(
        report["bytes"],
        on_disk.iter().map(|f| f.1).sum::<u64>(),
        "{report}"
    );
    assert!(
        on_disk.iter().any(|(n, _)| n.ends_with(".sst")),
        "{on_disk:?}"
    );
    assert!(
        on_disk.iter().any(|(n, _)| n.ends_with(".log")),
        "{on_disk:?}"
    );

    let o = kv(args(&[&"restore", &backup, &"--data-dir", &dst])).await;
    assert!(
        ok(&o).starts_with(&format!("restored seq {seq}: {} files", on_disk.len())),
        "{}",
        stdout(&o)
    );
    let b = start(&dst, &[]).await;

    // Each writer's writes in the copy are a prefix 0..m[t] (its own order, no gaps), with c<t>
    // from the same batch; every write acknowledged before the backup began is there; none
    // sent after it ended is.
    let mut m = Vec::new();
    for t in 0..WRITERS {
        let got = scan_all(&b, &format!("w{t}/")).await;
        let n = got.len();
        for (i, (k, v)) in got.iter().enumerate() {
            assert_eq!(
                (k.as_str(), v.as_str()),
                (format!("w{t}/{i:06}").as_str(), i.to_string().as_str()),
                "writer {t}: a gap before {k}"
            );
        }
        let (_, c) = call(http().get(b.url(&format!("/get/c{t}")))).await;
        assert_eq!(
            c["value"].as_str(),
            n.checked_sub(1).map(|x| x.to_string()).as_deref(),
            "writer {t}: c{t} is not from the batch of its last write"
        );
        assert!(
            n >= acked_before[t],
            "writer {t}: {n} writes restored, {} were acknowledged before the backup began",
            acked_before[t]
        );
        assert!(
            n <= sent_by_end[t],
            "writer {t}: {n} writes restored, only {} were sent before the backup ended",
            sent_by_end[t]
        );
        m.push(n);
    }
    // A cut consistent with real time: no write in the copy was sent after a write missing from
    // it was acknowledged (for each pair of writers: the last present vs the first missing).
    for t in 0..WRITERS {
        let Some(last_present) = m[t].checked_sub(1) else {
            continue;
        };
        let sent = histories[t].lock().unwrap().sent[last_present];
        for u in 0..WRITERS {
            if let Some(Some(acked)) = histories[u].lock().unwrap().acked.get(m[u]) {
                assert!(
                    *acked >= sent,
                    "w{t}/{last_present:06} is restored, but w{u}/{:06}, acknowledged before \
                     it was sent, is not",
                    m[u]
                );
            }
        }
    }

    // The documents (untouched by the writers) and their indexes are the source's.
    let docs = scan_all(&a, "doc/").await;
    assert_eq!(docs.len(), 399);
    assert_eq!(scan_all(&b, "doc/").await, docs);
    let blobs = scan_all(&a, "blob/").await;
    assert_eq!(blobs.len(), 64);
    assert!(scan_all(&b, "blob/").await == blobs, "large values differ");
    for q in ["alpha", "bravo", "zulu", "topic3"] {
        let expected = search_keys(&a, q).await;
        assert!(!expected.is_empty(), "{q}");
        assert_eq!(search_keys(&b, q).await, expected, "search {q:?}");
    }
    let (st, r) = call(
        http()
            .get(b.url("/semantic_search"))
            .query(&[("q", "alpha document"), ("k", "5")]),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["results"].as_array().unwrap().len(), 5, "{r}");
    // nothing else came along
    let all = scan_all(&b, "").await;
    let writers_keys = m.iter().sum::<usize>() + m.iter().filter(|&&n| n > 0).count();
    assert_eq!(all.len(), blobs.len() + docs.len() + writers_keys);
    // the backup's checkpoint was removed from the node after the download, and only it
    assert_eq!(
        names(&src.join("checkpoints")),
        [abandoned["id"].as_str().unwrap()]
    );
    eprintln!(
        "backup of seq {seq}, {} files, {} bytes in {backup_secs:.2} s under {WRITERS} writers; \
         restored prefixes {m:?} (acknowledged before: {acked_before:?}, sent by the end: \
         {sent_by_end:?}); test {:.1} s",
        report["files"],
        report["bytes"],
        t0.elapsed().as_secs_f64()
    );
}

/// A backup of a small node: tables, a WAL segment holding records, the listing.
async fn small_backup(root: &Path) -> PathBuf {
    let data = root.join("node");
    let s = start(&data, &[]).await;
    preload(&s).await;
    bulk(&s, &[("after/flush".into(), "in the WAL".into())]).await;
    let backup = root.join("good");
    ok(&kv(args(&[&"backup", &backup, &"--url", &s.url])).await);
    backup
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// The largest file of `dir` whose name ends with `suffix`.
fn largest(dir: &Path, suffix: &str) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap_or_else(|| panic!("no {suffix} in {}", dir.display()))
        .file_name()
        .into_string()
        .unwrap()
}

/// Where each record of a WAL segment ends (`docs/formats/wal.md`: a 16-byte header, then
/// records of a 4-byte word — bits 0..31 the payload length, bit 31 an 8-byte `synced` follows —
/// an 8-byte checksum and the payload).
fn wal_record_ends(data: &[u8]) -> Vec<u64> {
    let mut ends = Vec::new();
    let mut at = 16;
    while at + 4 <= data.len() {
        let word = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        let synced = if word >> 31 == 1 { 8 } else { 0 };
        at += 4 + synced + 8 + (word & 0x7fff_ffff) as usize;
        ends.push(at as u64);
    }
    assert_eq!(
        ends.last().copied(),
        Some(data.len() as u64),
        "not a whole WAL segment"
    );
    ends
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_backups_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = small_backup(tmp.path()).await;
    let sst = largest(&good, ".sst");
    let log = largest(&good, ".log");
    let manifest = names(&good)
        .into_iter()
        .find(|n| n.starts_with("MANIFEST-"))
        .unwrap();
    let flip = |p: &Path, at: fn(u64) -> u64| {
        let mut b = std::fs::read(p).unwrap();
        let i = at(b.len() as u64) as usize;
        b[i] ^= 0x40;
        std::fs::write(p, b).unwrap();
    };
    // (what, the file the refusal must name, the damage done to a copy of the backup)
    type Case<'a> = (&'static str, String, Box<dyn Fn(&Path) + 'a>);
    let cases: Vec<Case> = vec![
        (
            "a flipped byte in a table",
            sst.clone(),
            Box::new(move |d: &Path| flip(&d.join(largest(d, ".sst")), |n| n / 3)),
        ),
        (
            "a truncated WAL segment",
            log.clone(),
            Box::new(move |d: &Path| {
                let p = d.join(largest(d, ".log"));
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len - 3)
                    .unwrap();
            }),
        ),
        (
            "a WAL segment cut at a record boundary (verifies as an older state)",
            log.clone(),
            Box::new(move |d: &Path| {
                let p = d.join(largest(d, ".log"));
                let ends = wal_record_ends(&std::fs::read(&p).unwrap());
                assert!(ends.len() >= 2, "{ends:?}");
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(ends[ends.len() - 2])
                    .unwrap();
            }),
        ),
        (
            "a deleted table",
            sst.clone(),
            Box::new(move |d: &Path| std::fs::remove_file(d.join(largest(d, ".sst"))).unwrap()),
        ),
        (
            "a deleted WAL segment",
            log.clone(),
            Box::new(move |d: &Path| std::fs::remove_file(d.join(largest(d, ".log"))).unwrap()),
        ),
        (
            "a flipped byte in the manifest",
            manifest.clone(),
            Box::new(|d: &Path| {
                let m = names(d)
                    .into_iter()
                    .find(|n| n.starts_with("MANIFEST-"))
                    .unwrap();
                flip(&d.join(m), |n| n - 5)
            }),
        ),
        (
            "a deleted listing",
            "backup.json".into(),
            Box::new(|d: &Path| std::fs::remove_file(d.join("backup.json")).unwrap()),
        ),
    ];
    for (i, (what, file, damage)) in cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}"));
        copy_dir(&good, &bad);
        damage(&bad);
        // into a directory that does not exist, and into an empty one
        let new_dir = tmp.path().join(format!("new{i}"));
        let empty_dir = tmp.path().join(format!("empty{i}"));
        std::fs::create_dir(&empty_dir).unwrap();
        for d in [&new_dir, &empty_dir] {
            let o = kv(args(&[&"restore", &bad, &"--data-dir", d])).await;
            assert!(
                !o.status.success(),
                "{what}: restore succeeded\n{}",
                stdout(&o)
            );
            let err = stderr(&o);
            assert!(
                err.contains(file.as_str()),
                "{what}: {file} not named in: {err}"
            );
            assert!(
                err.contains("nothing was restored") || what.contains("listing"),
                "{what}: {err}"
            );
        }
        assert!(
            !new_dir.exists(),
            "{what}: {} was created",
            new_dir.display()
        );
        assert!(
            names(&empty_dir).is_empty(),
            "{what}: {:?}",
            names(&empty_dir)
        );
    }
    // the intact backup restores
    let d = tmp.path().join("restored");
    ok(&kv(args(&[&"restore", &good, &"--data-dir", &d])).await);
    let s = start(&d, &[]).await;
    assert_eq!(
        call(http().get(s.url("/get/after%2Fflush"))).await.1["value"],
        "in the WAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_and_backup_refuse_non_empty_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let good = small_backup(tmp.path()).await;

    // restore into a non-empty directory, or onto a file
    let d = tmp.path().join("busy");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("keep.txt"), "mine").unwrap();
    let o = kv(args(&[&"restore", &good, &"--data-dir", &d])).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(names(&d), ["keep.txt"]);
    assert_eq!(std::fs::read_to_string(d.join("keep.txt")).unwrap(), "mine");
    let f = tmp.path().join("a-file");
    std::fs::write(&f, "x").unwrap();
    let o = kv(args(&[&"restore", &good, &"--data-dir", &f])).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a directory"), "{}", stderr(&o));

    // backup into a non-empty directory: refused before asking the node for anything
    let s = start(&tmp.path().join("node2"), &[]).await;
    let o = kv(args(&[&"backup", &d, &"--url", &s.url])).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(names(&d), ["keep.txt"]);
    assert!(!tmp.path().join("node2/checkpoints").exists());
    // an unreachable node: non-zero, and the new directory is not left behind
    let p = tmp.path().join("never");
    let o = kv(args(&[&"backup", &p, &"--url", &"http://127.0.0.1:9"])).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("checkpoint"), "{}", stderr(&o));
    assert!(!p.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_endpoints_answer_and_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = start(&data, &[]).await;
    preload(&s).await;
    let h = http();

    let (st, cp) = call(h.post(s.url("/admin/checkpoint"))).await;
    assert_eq!(st, 200, "{cp}");
    let id = cp["id"].as_str().unwrap().to_string();
    assert!(cp["seq"].as_u64().unwrap() > 0);
    let files = cp["files"].as_array().unwrap();
    assert_eq!(files.last().unwrap()["name"], "CURRENT");
    let dir = data.join("checkpoints").join(&id);
    for f in files {
        let name = f["name"].as_str().unwrap();
        let disk = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(f["size"], disk.len(), "{name}");
        let r = h
            .get(s.url(&format!("/admin/checkpoint/{id}/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.content_length(), Some(disk.len() as u64), "{name}");
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert_eq!(r.bytes().await.unwrap(), disk, "{name}");
    }
    assert_eq!(
        call(h.get(s.url(&format!("/admin/checkpoint/{id}")))).await,
        (200, cp.clone())
    );
    let r = h
        .get(s.url(&format!("/admin/checkpoint/{id}/CURRENT")))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], b"MANI");

    // 400: malformed ids and file names (path traversal), before any lookup. Sent over a
    // socket as written: HTTP clients normalize `..` and `%2e%2e` segments away.
    for bad in [
        format!("{id}/../../LOCK"),
        format!("{id}/%2e%2e%2fLOCK"),
        format!("{id}/..%2F..%2FCURRENT"),
        format!("{id}/%2E%2E"),
        format!("{id}/a%5Cb"),
        format!("{id}/.hidden"),
        format!("{id}/x/y"),
        "%2e%2e/CURRENT".to_string(),
        "..%2F..".to_string(),
        "not-an-id/CURRENT".to_string(),
    ] {
        let raw = raw_get(&s.url, &format!("/admin/checkpoint/{bad}")).await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{bad}: {raw}");
        assert!(raw.contains(r#"{"error":"#), "{bad}: {raw}");
    }
    let cp_url = |rest: &str| s.url(&format!("/admin/checkpoint/{rest}"));
    expect_error(h.delete(cp_url("ZZZZ")), 400).await;
    // 404: unknown id or file
    let nobody = "0123456789abcdef";
    expect_error(h.get(cp_url(nobody)), 404).await;
    expect_error(h.get(cp_url(&format!("{nobody}/CURRENT"))), 404).await;
    expect_error(h.delete(cp_url(nobody)), 404).await;
    expect_error(h.get(cp_url(&format!("{id}/000999.sst"))), 404).await;
    expect_error(h.get(cp_url(&format!("{id}/LOCK"))), 404).await;
    // 405
    expect_error(h.put(s.url("/admin/checkpoint")), 405).await;
    expect_error(h.post(cp_url(&id)), 405).await;
    expect_error(h.delete(cp_url(&format!("{id}/CURRENT"))), 405).await;
    // 409 past the limit of open checkpoints
    let mut ids = vec![id.clone()];
    for _ in 1..4 {
        let (st, b) = call(h.post(s.url("/admin/checkpoint"))).await;
        assert_eq!(st, 200, "{b}");
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    let msg = expect_error(h.post(s.url("/admin/checkpoint")), 409).await;
    assert!(msg.contains("DELETE"), "{msg}");
    // DELETE removes the files; a second DELETE is 404
    assert_eq!(
        call(h.delete(cp_url(&id))).await,
        (200, json!({"ok": true}))
    );
    assert!(!dir.exists());
    expect_error(h.get(cp_url(&id)), 404).await;
    expect_error(h.get(cp_url(&format!("{id}/CURRENT"))), 404).await;
    expect_error(h.delete(cp_url(&id)), 404).await;
    let metrics = h
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"route="admin_checkpoint""#), "{metrics}");

    // a killed node's checkpoints are removed at start-up; the engine ignores the directory
    s.kill9();
    assert_eq!(names(&data.join("checkpoints")).len(), 3);
    std::fs::create_dir(data.join("checkpoints/not-mine")).unwrap();
    let mut s = start(&data, &[]).await;
    assert_eq!(names(&data.join("checkpoints")), ["not-mine"]);
    expect_error(h.get(s.url(&format!("/admin/checkpoint/{}", ids[1]))), 404).await;
    assert_eq!(
        call(h.get(s.url("/get/doc%2F0002"))).await.1["value"],
        "alpha document number 2 about topic2"
    );
    // and a graceful shutdown removes them too
    assert_eq!(call(h.post(s.url("/admin/checkpoint"))).await.0, 200);
    assert_eq!(names(&data.join("checkpoints")).len(), 2);
    assert!(s.sigterm().success());
    assert_eq!(names(&data.join("checkpoints")), ["not-mine"]);
}

/// A GET sent as written (no path normalization); the whole response.
async fn raw_get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_expire_after_the_idle_timeout() {
    use kvstore_server::{Server, ServerConfig};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::bind(ServerConfig {
        port: 0,
        data_dir: data.clone(),
        checkpoint_ttl: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let c = kvstore_client::Client::new(&format!("http://{}", server.local_addr())).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    c.bulk_set(&[("k1", "v1"), ("k2", "v2")]).await.unwrap();
    let info = c.checkpoint_create().await.unwrap();
    // used every 200 ms for 1.6 s: kept (the timeout counts from the last use)
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(c.checkpoint_info(&info.id).await.unwrap(), info);
    }
    let mut current = Vec::new();
    let n = c
        .checkpoint_download(&info.id, "CURRENT", &mut current)
        .await
        .unwrap();
    assert_eq!(n as usize, current.len());
    assert!(current.starts_with(b"MANIFEST-"));
    // then idle: removed, files and all
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let e = c.checkpoint_info(&info.id).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    assert!(!data.join("checkpoints").join(&info.id).exists());
    let e = c
        .checkpoint_download(&info.id, "CURRENT", &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    tx.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
