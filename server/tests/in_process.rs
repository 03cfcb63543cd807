//! The server started in-process through the library, driven by every method of the async
//! `kvstore-client`, then shut down through the shutdown future.

use kvstore_client::{Client, ScanOptions, SetOptions};
use kvstore_server::{Server, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_server_with_rust_client() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        port: 0,
        data_dir: dir.path().join("data"),
        node_id: "inproc".into(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.unwrap();
    let url = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));

    let c = Client::new(&url).unwrap();
    assert_eq!(c.health().await.unwrap().status, "ok");
    let st = c.cluster_status().await.unwrap();
    assert_eq!(
        (st.node_id.as_str(), st.role.as_str()),
        ("inproc", "standalone")
    );

    c.set("a/b", "1").await.unwrap();
    assert_eq!(c.get("a/b").await.unwrap().as_deref(), Some("1"));
    assert_eq!(c.get("missing").await.unwrap(), None);
    assert!(c.delete("a/b").await.unwrap());
    assert!(!c.delete("a/b").await.unwrap());
    assert_eq!(
        c.bulk_set(&[("p1", "x"), ("p2", "y"), ("p3", "z")])
            .await
            .unwrap(),
        3
    );
    let page = c
        .scan(&ScanOptions {
            prefix: Some("p".into()),
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next.as_deref(), Some("p3"));

    let e = c.set("", "v").await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(e.to_string().contains("empty"), "{e}");
    let opts = SetOptions {
        vector: Some(vec![1.0, 2.0]),
        debug_fail: false,
    };
    assert_eq!(
        c.set_with("v", "x", &opts).await.unwrap_err().status(),
        Some(400)
    );
    assert!(c.search("x", 3).await.unwrap().results.len() <= 3);
    assert!(c.semantic_search("x", 3).await.is_ok());
    assert_eq!(
        c.semantic_search_vector(&[1.0], 3)
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    assert_eq!(
        c.cluster_join("n2", "127.0.0.1:1")
            .await
            .unwrap_err()
            .status(),
        Some(409)
    );
    assert_eq!(c.become_primary().await.unwrap_err().status(), Some(409));
    c.admin_flush().await.unwrap();
    c.admin_compact().await.unwrap();
    assert!(c.admin_stats().await.unwrap()["levels"].is_array());
    assert!(c
        .metrics()
        .await
        .unwrap()
        .contains("kvstore_http_requests_total"));
    assert!(c.openapi().await.unwrap()["paths"]["/set"].is_object());

    tx.send(()).unwrap();
    handle.await.unwrap().unwrap();
    assert!(
        c.health().await.is_err(),
        "server still answering after shutdown"
    );

    // the blocking client, from a thread without a runtime
    let dir2 = tempfile::tempdir().unwrap();
    let server = Server::bind(ServerConfig {
        port: 0,
        data_dir: dir2.path().join("data"),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    tokio::task::spawn_blocking(move || {
        let c = kvstore_client::blocking::Client::new(&url).unwrap();
        c.set("k", "v").unwrap();
        assert_eq!(c.get("k").unwrap().as_deref(), Some("v"));
        assert_eq!(c.bulk_set(&[("a", "1")]).unwrap(), 1);
        assert!(c.delete("k").unwrap());
        assert_eq!(c.health().unwrap().status, "ok");
    })
    .await
    .unwrap();
    tx.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
