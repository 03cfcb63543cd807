//! The HTTP JSON bodies (`/set`, `/bulk_set`, `POST /semantic_search`, `/cluster/join`):
//! arbitrary bytes must be accepted or answered with a 4xx `ApiError`, never a panic, a 5xx or a
//! huge allocation; whatever is accepted respects the configured key and value limits.
#![no_main]

use kvstore_server::node::SemanticQuery;
use kvstore_server::routes::input::{
    parse_bulk_set, parse_cluster_join, parse_semantic_post, parse_set, MAX_K,
};
use kvstore_server::{ApiError, Limits};
use libfuzzer_sys::fuzz_target;

fn client_error(e: ApiError) {
    assert!(e.status().is_client_error(), "{e:?} is not a 4xx");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    // Small key and value limits, so that the fuzzer reaches those checks with short inputs.
    // (`max_body_bytes` is enforced by the route filter before parsing, not by these parsers.)
    let limits = Limits {
        max_key_bytes: 16,
        max_value_bytes: 64,
        max_body_bytes: 4096,
    };
    match which % 4 {
        0 => match parse_set(body, &limits) {
            Ok(req) => {
                assert!(!req.key.is_empty() && req.key.len() <= limits.max_key_bytes);
                assert!(req.value.len() <= limits.max_value_bytes);
                if let Some(v) = req.vector {
                    assert!(v.iter().all(|x| x.is_finite()));
                }
            }
            Err(e) => client_error(e),
        },
        1 => match parse_bulk_set(body, &limits) {
            Ok((items, _)) => {
                for (k, v) in items {
                    assert!(!k.is_empty() && k.len() <= limits.max_key_bytes);
                    assert!(v.len() <= limits.max_value_bytes);
                }
            }
            Err(e) => client_error(e),
        },
        2 => match parse_semantic_post(body) {
            Ok((q, k)) => {
                assert!(k >= 1 && k as i64 <= MAX_K);
                match q {
                    SemanticQuery::Text(t) => assert!(!t.trim().is_empty()),
                    SemanticQuery::Vector(v) => assert!(v.iter().all(|x| x.is_finite())),
                }
            }
            Err(e) => client_error(e),
        },
        _ => match parse_cluster_join(body) {
            Ok(peers) => {
                assert!(!peers.is_empty());
                for (id, addr) in peers {
                    assert!(!id.trim().is_empty() && !addr.trim().is_empty());
                }
            }
            Err(e) => client_error(e),
        },
    }
});
