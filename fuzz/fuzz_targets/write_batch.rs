//! A WAL record payload (an encoded write batch): arbitrary bytes must decode or give an
//! error; a batch that decodes yields exactly the entries it declares.
#![no_main]

use kvstore_engine::WriteBatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kvstore_engine::decode::write_batch(data);
    if let Ok((_, batch)) = WriteBatch::decode(data) {
        assert_eq!(batch.iter().count(), batch.len());
        // The header is two varints (at most 15 bytes); size_bytes bounds the payload.
        assert!(batch.size_bytes() >= data.len());
    }
});
