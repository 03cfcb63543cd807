//! A blocking wrapper over [`crate::Client`]: each call runs on a private current-thread tokio
//! runtime. Do not call it from inside an async runtime (use the async client there).

use crate::{
    BecomePrimary, ClusterStatus, Error, Health, JoinResult, RemoveResult, Result, ScanOptions,
    ScanPage, SearchResults, SetOptions,
};
use serde_json::Value;

/// The blocking client. Not `Sync`-shared across threads on purpose: give each thread its own.
pub struct Client {
    inner: crate::Client,
    /// Drives `inner`'s futures (and its pooled connections) during each call.
    rt: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(base_url: &str) -> Result<Client> {
        Client::from_builder(crate::Client::builder(base_url))
    }

    /// With options, e.g. a bearer token: `crate::Client::builder(url).bearer_token(t)`.
    pub fn from_builder(builder: crate::ClientBuilder) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let inner = {
            let _g = rt.enter();
            builder.build()?
        };
        Ok(Client { inner, rt })
    }

    /// The async client underneath.
    pub fn inner(&self) -> &crate::Client {
        &self.inner
    }

    pub fn get(&self, key: &str) -> Result<Option<String>> {
        self.rt.block_on(self.inner.get(key))
    }
    pub fn set(&self, key: &str, value: &str) -> Result<()> {
        self.rt.block_on(self.inner.set(key, value))
    }
    pub fn set_with(&self, key: &str, value: &str, opts: &SetOptions) -> Result<()> {
        self.rt.block_on(self.inner.set_with(key, value, opts))
    }
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.rt.block_on(self.inner.delete(key))
    }
    pub fn bulk_set<K: AsRef<str>, V: AsRef<str>>(&self, items: &[(K, V)]) -> Result<usize> {
        self.rt.block_on(self.inner.bulk_set(items))
    }
    pub fn bulk_set_with<K: AsRef<str>, V: AsRef<str>>(
        &self,
        items: &[(K, V)],
        debug_fail: bool,
    ) -> Result<usize> {
        self.rt
            .block_on(self.inner.bulk_set_with(items, debug_fail))
    }
    pub fn scan(&self, opts: &ScanOptions) -> Result<ScanPage> {
        self.rt.block_on(self.inner.scan(opts))
    }
    pub fn search(&self, query: &str, k: usize) -> Result<SearchResults> {
        self.rt.block_on(self.inner.search(query, k))
    }
    pub fn semantic_search(&self, query: &str, k: usize) -> Result<SearchResults> {
        self.rt.block_on(self.inner.semantic_search(query, k))
    }
    pub fn semantic_search_vector(&self, vector: &[f32], k: usize) -> Result<SearchResults> {
        self.rt
            .block_on(self.inner.semantic_search_vector(vector, k))
    }
    pub fn health(&self) -> Result<Health> {
        self.rt.block_on(self.inner.health())
    }
    pub fn cluster_status(&self) -> Result<ClusterStatus> {
        self.rt.block_on(self.inner.cluster_status())
    }
    pub fn cluster_join(&self, node_id: &str, address: &str) -> Result<Value> {
        self.rt.block_on(self.inner.cluster_join(node_id, address))
    }
    pub fn cluster_join_via(&self, via: &str) -> Result<JoinResult> {
        self.rt.block_on(self.inner.cluster_join_via(via))
    }
    pub fn remove_member(&self, node_id: &str) -> Result<RemoveResult> {
        self.rt.block_on(self.inner.remove_member(node_id))
    }
    pub fn become_primary(&self) -> Result<BecomePrimary> {
        self.rt.block_on(self.inner.become_primary())
    }
    pub fn admin_flush(&self) -> Result<()> {
        self.rt.block_on(self.inner.admin_flush())
    }
    pub fn admin_compact(&self) -> Result<()> {
        self.rt.block_on(self.inner.admin_compact())
    }
    pub fn admin_stats(&self) -> Result<Value> {
        self.rt.block_on(self.inner.admin_stats())
    }
    pub fn metrics(&self) -> Result<String> {
        self.rt.block_on(self.inner.metrics())
    }
    pub fn openapi(&self) -> Result<Value> {
        self.rt.block_on(self.inner.openapi())
    }
}
