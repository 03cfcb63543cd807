//! Peer traffic of Raft mode: openraft's RPCs and the node's own forwarding, over HTTP on the
//! node's port under `/raft/<rpc>`, CBOR-encoded, through one pooled keep-alive client per node.
//!
//! One client for every peer and every message: openraft's example servers build a client per
//! message, which on a small machine caps a cluster at a few writes a second (DESIGN.md, trap
//! 4); a pooled client keeps one warm connection per peer. Bodies are CBOR (`ciborium`), a
//! compact binary form of the same serde types the library defines, so a snapshot chunk
//! travels as bytes rather than as JSON numbers.
//!
//! Wire contract: `POST /raft/<rpc>` with the CBOR request; `200` with the CBOR of a
//! `Result<answer, error>` — a remote error (a newer term, a refused write) is an answer, not a
//! transport failure. Any other status, or a body that does not decode, is a transport failure
//! (openraft retries). The RPC names are [`RPC_APPEND`] and the other `RPC_` constants.

use super::{Member, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const RPC_APPEND: &str = "append";
pub const RPC_VOTE: &str = "vote";
pub const RPC_SNAPSHOT: &str = "snapshot";
/// A write prepared on a follower, for the leader to propose.
pub const RPC_WRITE: &str = "write";
/// A linearizable point read, served by the leader.
pub const RPC_READ: &str = "read";
/// "What must a linearizable read wait for?": the leader confirms it still leads (a quorum
/// round) and answers its commit index; the asking follower serves the read once it has
/// applied that far (Raft's follower read, the thesis's section 6.4).
pub const RPC_READ_INDEX: &str = "read_index";
/// A membership request (`/cluster/join` sent to a follower).
pub const RPC_JOIN: &str = "join";
/// "Who are you?": the peer's name and URL, asked before it is added.
pub const RPC_HELLO: &str = "hello";
/// Leadership transfer: hold still (no heartbeats, no campaigns, no writes or linearizable
/// reads served) for a while, so that the target can take over.
pub const RPC_HOLD: &str = "hold";
/// Leadership transfer over: resume.
pub const RPC_RELEASE: &str = "release";

/// What a [`RPC_HOLD`] asks: the node taking over, and for how long at most.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldRequest {
    pub target: u64,
    pub millis: u64,
    /// The primary stops its heartbeats too (when the target needs a follower's vote, which
    /// that follower gives only once its lease on the primary has run out).
    pub quiet: bool,
}

/// An application error carried back to the node that forwarded a request: the HTTP status the
/// leader would have answered, and its message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerError {
    pub status: u16,
    pub message: String,
}

/// Encodes `v` as CBOR.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(|e| format!("cannot encode: {e}"))?;
    Ok(out)
}

/// Decodes CBOR bytes received from a peer (untrusted: a failure is an error, never a panic).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|e| format!("cannot decode a peer message: {e}"))
}

/// The header every peer message carries the sender's cluster id in (when it has one).
pub const CLUSTER_HEADER: &str = "x-kvstore-cluster";

/// The one HTTP client a node uses for all its peers.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    /// This node's cluster id, sent with every message; set once known (`set_cluster`).
    cluster: std::sync::Arc<std::sync::RwLock<String>>,
}

/// Why a peer call failed before the peer could answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection (refused, reset, unreachable): back off.
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    /// The exchange failed or timed out; the peer answered something that is not ours.
    #[error("{0}: {1}")]
    Network(String, String),
}

impl PeerClient {
    /// A client that sends `token` (when given) as a bearer token with every message, from
    /// `local_address` (when given; see `RaftSettings::local_address`).
    pub fn new(
        token: Option<&str>,
        local_address: Option<std::net::IpAddr>,
    ) -> Result<PeerClient, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| "the peer token cannot be sent in a header".to_string())?;
            // Kept out of any debug output of the client.
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            .local_address(local_address)
            .build()
            .map_err(|e| format!("cannot build the peer HTTP client: {e}"))?;
        Ok(PeerClient {
            http,
            cluster: Default::default(),
        })
    }

    /// Sends `cluster` as this node's cluster id from now on.
    pub fn set_cluster(&self, cluster: &str) {
        let mut c = self.cluster.write().unwrap_or_else(|e| e.into_inner());
        cluster.clone_into(&mut c);
    }

    /// This node's cluster id when `theirs` is another one (an empty id, before this node
    /// joined a cluster, differs from none).
    pub fn other_cluster(&self, theirs: &str) -> Option<String> {
        let mine = self.cluster.read().unwrap_or_else(|e| e.into_inner());
        (!mine.is_empty() && *mine != theirs).then(|| mine.clone())
    }

    /// Sends `req` to `url`'s `/raft/<rpc>` and decodes its answer, within `timeout`.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        url: &str,
        rpc: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let target = format!("{}/raft/{rpc}", url.trim_end_matches('/'));
        let body = encode(req).map_err(|e| CallError::Network(target.clone(), e))?;
        let mut post = self
            .http
            .post(&target)
            .header("content-type", "application/cbor");
        {
            let cluster = self.cluster.read().unwrap_or_else(|e| e.into_inner());
            if !cluster.is_empty() {
                post = post.header(CLUSTER_HEADER, cluster.as_str());
            }
        }
        let sent = post.timeout(timeout).body(body).send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(CallError::Unreachable(target, e.to_string()));
            }
            Err(e) => return Err(CallError::Network(target, e.to_string())),
        };
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(target.clone(), e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(CallError::Network(
                target,
                format!("answered {status}: {text}"),
            ));
        }
        decode(&bytes).map_err(|e| CallError::Network(target, e))
    }
}

/// Makes a connection object per target for openraft; all of them share the node's client.
#[derive(Clone)]
pub struct Network {
    pub client: PeerClient,
}

pub struct Connection {
    client: PeerClient,
    target: u64,
    node: Member,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &Member) -> Connection {
        Connection {
            client: self.client.clone(),
            target,
            node: node.clone(),
        }
    }
}

impl Connection {
    async fn rpc<Req, Resp, E>(
        &self,
        rpc: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, Member, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer: Result<Resp, E> = self
            .client
            .call(&self.node.url, rpc, req, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(..) => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Network(..) => RPCError::Network(NetworkError::new(&e)),
            })?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

type Rpc<T, E = RaftError<u64>> = Result<T, RPCError<u64, Member, E>>;

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<u64>> {
        self.rpc(RPC_APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        self.rpc(RPC_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Rpc<VoteResponse<u64>> {
        self.rpc(RPC_VOTE, &rpc, &option).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_round_trips_and_garbage_is_an_error_not_a_panic() {
        let e = PeerError {
            status: 503,
            message: "no quorum".into(),
        };
        let back: PeerError = decode(&encode(&e).unwrap()).unwrap();
        assert_eq!((back.status, back.message.as_str()), (503, "no quorum"));
        for junk in [&b""[..], b"\xff\xff", b"{\"status\": 1}", &[0x9f; 64]] {
            assert!(decode::<PeerError>(junk).is_err());
        }
    }
}
