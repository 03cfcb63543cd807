//! Raft peer messages (`POST /raft/<rpc>`, CBOR): arbitrary bytes from the network must decode
//! into a message or fail with an error — never a panic or a runaway allocation — and whatever
//! decodes encodes again and decodes to the same value.
#![no_main]

use kvstore_server::node::raft::network::{decode, encode, PeerError};
use kvstore_server::node::raft::{Member, Request, TypeConfig};
use libfuzzer_sys::fuzz_target;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + Debug>(body: &[u8]) {
    if let Ok(v) = decode::<T>(body) {
        let again = encode(&v).expect("a decoded message encodes");
        let back: T = decode(&again).expect("an encoded message decodes");
        assert_eq!(format!("{v:?}"), format!("{back:?}"));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => round_trip::<AppendEntriesRequest<TypeConfig>>(body),
        1 => round_trip::<VoteRequest<u64>>(body),
        2 => round_trip::<InstallSnapshotRequest<TypeConfig>>(body),
        3 => round_trip::<Request>(body),
        4 => round_trip::<Vec<u8>>(body),
        5 => round_trip::<Member>(body),
        _ => round_trip::<Result<Vec<(String, String)>, PeerError>>(body),
    }
});
