//! kill -9 under concurrent writers, 3 times: every acknowledged write and every acknowledged
//! bulk is there, whole, after each restart. Needs the persistent engine (fails against the
//! in-memory placeholder).

mod common;

use common::start;
use kvstore_client::Client;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 4;
const CYCLES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // (key, value) pairs acknowledged by the server, over all cycles.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();

    for cycle in 0..CYCLES {
        let mut s = start(&data, &[]).await;
        let client = Client::new(&s.url).unwrap();
        let so_far = acked.lock().unwrap().clone();
        check(&client, &so_far, cycle).await;

        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let client = client.clone();
            let acked = Arc::clone(&acked);
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let r = if i % 5 == 4 {
                        let items: Vec<(String, String)> = (0..10)
                            .map(|j| (format!("c{cycle}/w{w}/bulk{i}/{j}"), format!("b{i}.{j}")))
                            .collect();
                        client.bulk_set(&items).await.map(|_| items)
                    } else {
                        let kv = (format!("c{cycle}/w{w}/k{i}"), format!("v{i}"));
                        client.set(&kv.0, &kv.1).await.map(|()| vec![kv])
                    };
                    match r {
                        Ok(items) => acked.lock().unwrap().extend(items),
                        Err(_) => return i, // the server was killed
                    }
                }
                unreachable!()
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        s.kill9();
        let mut attempted = 0;
        for t in tasks {
            attempted += t.await.unwrap();
        }
        assert!(attempted > 0, "writers made no progress");
    }
    let s = start(&data, &[]).await;
    let client = Client::new(&s.url).unwrap();
    let all = acked.lock().unwrap().clone();
    assert!(!all.is_empty());
    check(&client, &all, CYCLES).await;
}

async fn check(client: &Client, acked: &[(String, String)], cycle: usize) {
    for (k, v) in acked {
        let got = client.get(k).await.unwrap();
        assert_eq!(
            got.as_deref(),
            Some(v.as_str()),
            "acknowledged write {k} lost after kill -9 (before cycle {cycle})"
        );
    }
}
