//! [`Metrics`]: the Prometheus registry behind `GET /metrics`.
//!
//! Request counts and latencies per route are recorded as requests finish; engine gauges are
//! copied from `DbStats` at each scrape, so they cost nothing between scrapes.

use crate::auth::AuthFailure;
use kvstore_engine::DbStats;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::RwLock;

/// Every value [`route_label`] returns, in a fixed order (the index of the cached handles).
const ROUTES: [&str; 19] = [
    "get",
    "set",
    "delete",
    "bulk_set",
    "search",
    "semantic_search",
    "scan",
    "health",
    "cluster_status",
    "cluster_join",
    "cluster_members",
    "become_primary",
    "admin_flush",
    "admin_compact",
    "admin_stats",
    "admin_checkpoint",
    "metrics",
    "openapi",
    "unknown",
];

/// The HTTP methods whose request counters are cached (others are looked up each time).
const METHODS: [&str; 4] = ["GET", "POST", "DELETE", "PUT"];

/// Latency buckets in seconds: 50 µs .. 10 s.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// Every metric the server exports. Cheap to share (`Arc`); all fields are thread-safe.
pub struct Metrics {
    registry: Registry,
    /// `kvstore_http_requests_total{route, method, status}`.
    requests: IntCounterVec,
    /// `kvstore_http_request_duration_seconds{route}`, per route, by index in [`ROUTES`] (a label lookup per request costs hashing
    /// and locking inside the vector; the handles are resolved once).
    latency_by_route: Vec<Histogram>,
    /// `requests` handles already resolved, by (route index, method index, status).
    counters: RwLock<HashMap<(u8, u8, u16), IntCounter>>,
    /// Engine counters and sizes, by `DbStats` field name.
    engine: GaugeVec,
    /// `kvstore_level_files{level}` and `kvstore_level_bytes{level}`.
    level_files: GaugeVec,
    level_bytes: GaugeVec,
    /// 1 when the engine is poisoned.
    poisoned: Gauge,
    /// `kvstore_auth_failures_total{reason}`, by index in [`AuthFailure::ALL`].
    auth_failures: Vec<IntCounter>,
    /// `kvstore_cluster{stat}`: the cluster mode's state.
    cluster: GaugeVec,
}

/// The route label of a request path: a fixed, small set, so label cardinality is bounded.
pub fn route_label(path: &str) -> &'static str {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next().unwrap_or(""), segs.next()) {
        ("get", _) => "get",
        ("set", None) => "set",
        ("delete", _) => "delete",
        ("bulk_set", None) => "bulk_set",
        ("search", None) => "search",
        ("semantic_search", None) => "semantic_search",
        ("scan", None) => "scan",
        ("health", None) => "health",
        ("cluster", Some("status")) => "cluster_status",
        ("cluster", Some("join")) => "cluster_join",
        ("cluster", Some("members")) => "cluster_members",
        ("become_primary", None) => "become_primary",
        ("admin", Some("flush")) => "admin_flush",
        ("admin", Some("compact")) => "admin_compact",
        ("admin", Some("stats")) => "admin_stats",
        ("admin", Some("checkpoint")) => "admin_checkpoint",
        ("metrics", None) => "metrics",
        ("openapi.json", None) => "openapi",
        _ => "unknown",
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "kvstore_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "kvstore_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS_SECONDS.to_vec()),
            &["route"],
        )?;
        let engine = GaugeVec::new(
            Opts::new(
                "kvstore_engine",
                "Engine statistics (DbStats), by field; counters are totals since open",
            ),
            &["stat"],
        )?;
        let level_files = GaugeVec::new(
            Opts::new("kvstore_level_files", "SSTables per level"),
            &["level"],
        )?;
        let level_bytes = GaugeVec::new(
            Opts::new("kvstore_level_bytes", "SSTable bytes per level"),
            &["level"],
        )?;
        let poisoned = Gauge::new(
            "kvstore_engine_poisoned",
            "1 when a failed persist made the engine refuse writes",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(engine.clone()))?;
        registry.register(Box::new(level_files.clone()))?;
        registry.register(Box::new(level_bytes.clone()))?;
        let auth_failures_vec = IntCounterVec::new(
            Opts::new(
                "kvstore_auth_failures_total",
                "Requests refused by authentication: missing or invalid token (401), \
                 read-only token on a write or admin route (403)",
            ),
            &["reason"],
        )?;
        let cluster = GaugeVec::new(
            Opts::new(
                "kvstore_cluster",
                "Cluster state by field (raft mode: term, is_leader, leader_changes, \
                 last_log_index, applied_index, snapshot_index, purged_index, max_follower_lag, voters, \
                 learners); absent in standalone mode",
            ),
            &["stat"],
        )?;
        registry.register(Box::new(poisoned.clone()))?;
        registry.register(Box::new(auth_failures_vec.clone()))?;
        registry.register(Box::new(cluster.clone()))?;
        // Resolved now, so that every reason is exported as 0 before its first refusal (an
        // alert on its rate then has a series to start from).
        let auth_failures = AuthFailure::ALL
            .iter()
            .map(|f| auth_failures_vec.get_metric_with_label_values(&[f.label()]))
            .collect::<Result<Vec<_>, _>>()?;
        let latency_by_route = ROUTES
            .iter()
            .map(|r| latency.get_metric_with_label_values(&[r]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Metrics {
            registry,
            requests,
            latency_by_route,
            counters: RwLock::new(HashMap::new()),
            engine,
            level_files,
            level_bytes,
            poisoned,
            auth_failures,
            cluster,
        })
    }

    /// Counts one request refused by `crate::auth`.
    pub fn auth_failure(&self, failure: AuthFailure) {
        if let Some(i) = AuthFailure::ALL.iter().position(|f| *f == failure) {
            self.auth_failures[i].inc();
        }
    }

    /// Records one finished request.
    pub fn observe(&self, path: &str, method: &str, status: u16, elapsed: std::time::Duration) {
        let route = route_label(path);
        let r = ROUTES
            .iter()
            .position(|x| *x == route)
            .unwrap_or(ROUTES.len() - 1);
        self.latency_by_route[r].observe(elapsed.as_secs_f64());
        let Some(m) = METHODS.iter().position(|x| *x == method) else {
            self.requests
                .with_label_values(&[route, method, &status.to_string()])
                .inc();
            return;
        };
        let key = (r as u8, m as u8, status);
        if let Some(c) = self.counters.read().ok().and_then(|c| c.get(&key).cloned()) {
            c.inc();
            return;
        }
        let c = self
            .requests
            .with_label_values(&[route, method, &status.to_string()]);
        c.inc();
        if let Ok(mut cache) = self.counters.write() {
            cache.insert(key, c);
        }
    }

    /// Copies engine statistics into the gauges.
    pub fn set_engine(&self, s: &DbStats) {
        let fields: [(&str, f64); 21] = [
            ("wal_syncs", s.wal_syncs as f64),
            ("wal_sync_micros", s.wal_sync_micros as f64),
            ("wal_bytes_written", s.wal_bytes_written as f64),
            ("memtable_bytes", s.memtable_bytes as f64),
            ("immutable_memtables", s.immutable_memtables as f64),
            ("flushes", s.flushes as f64),
            ("flush_bytes_written", s.flush_bytes_written as f64),
            ("compactions", s.compactions as f64),
            (
                "compaction_bytes_written",
                s.compaction_bytes_written as f64,
            ),
            ("write_stalls", s.write_stalls as f64),
            ("stall_micros", s.stall_micros as f64),
            ("user_bytes_written", s.user_bytes_written as f64),
            ("write_amplification", s.write_amplification),
            ("live_sst_bytes", s.live_sst_bytes as f64),
            ("last_sequence", s.last_sequence as f64),
            ("block_cache_bytes", s.block_cache_bytes as f64),
            ("block_cache_hits", s.block_cache_hits as f64),
            ("block_cache_misses", s.block_cache_misses as f64),
            ("corruptions_seen", s.corruptions_seen as f64),
            ("levels", s.levels.len() as f64),
            (
                "level_files_total",
                s.levels.iter().map(|l| l.files as f64).sum(),
            ),
        ];
        for (name, v) in fields {
            self.engine.with_label_values(&[name]).set(v);
        }
        for (i, l) in s.levels.iter().enumerate() {
            let level = i.to_string();
            self.level_files
                .with_label_values(&[&level])
                .set(l.files as f64);
            self.level_bytes
                .with_label_values(&[&level])
                .set(l.bytes as f64);
        }
        self.poisoned
            .set(if s.poisoned.is_some() { 1.0 } else { 0.0 });
    }

    /// Copies a cluster mode's state (`Node::cluster_stats`) into the gauges.
    pub fn set_cluster(&self, stats: &[(&'static str, f64)]) {
        for (name, v) in stats {
            self.cluster.with_label_values(&[name]).set(*v);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_bounded() {
        assert_eq!(route_label("/get/a/b/c"), "get");
        assert_eq!(route_label("/admin/flush"), "admin_flush");
        assert_eq!(
            route_label("/admin/checkpoint/0123456789abcdef/CURRENT"),
            "admin_checkpoint"
        );
        assert_eq!(route_label("/set"), "set");
        assert_eq!(route_label("/set/extra"), "unknown");
        assert_eq!(route_label("/whatever"), "unknown");
        assert_eq!(route_label("/"), "unknown");
        for path in [
            "/get/x",
            "/set",
            "/delete/x",
            "/bulk_set",
            "/search",
            "/semantic_search",
        ] {
            assert!(ROUTES.contains(&route_label(path)));
        }
    }

    #[test]
    fn renders_requests_and_engine_stats() {
        let m = Metrics::new().unwrap();
        m.observe("/get/x", "GET", 404, std::time::Duration::from_millis(1));
        m.observe("/get/y", "GET", 404, std::time::Duration::from_millis(1));
        m.observe("/set", "PATCH", 405, std::time::Duration::from_millis(1));
        m.auth_failure(AuthFailure::Invalid);
        m.auth_failure(AuthFailure::Invalid);
        m.set_engine(&DbStats {
            wal_syncs: 3,
            levels: vec![Default::default(); 2],
            ..Default::default()
        });
        let text = m.render().unwrap();
        assert!(text
            .contains(r#"kvstore_http_requests_total{method="GET",route="get",status="404"} 2"#));
        assert!(text
            .contains(r#"kvstore_http_requests_total{method="PATCH",route="set",status="405"} 1"#));
        assert!(text.contains(r#"kvstore_http_request_duration_seconds_count{route="get"} 2"#));
        assert!(text.contains(r#"kvstore_engine{stat="wal_syncs"} 3"#));
        assert!(text.contains(r#"kvstore_level_files{level="1"} 0"#));
        assert!(text.contains(r#"kvstore_auth_failures_total{reason="invalid"} 2"#));
        assert!(text.contains(r#"kvstore_auth_failures_total{reason="missing"} 0"#));
        assert!(text.contains(r#"kvstore_auth_failures_total{reason="forbidden"} 0"#));
    }
}
