//! A whole WAL segment image. First byte: bit 0 picks raw bytes (damaged disk) or records
//! framed with correct checksums (the batch decoder behind the checksum); bit 1 says whether
//! this is the newest segment (torn tail allowed). Framed images are also cut short.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use kvstore_engine::{decode, WriteBatch};
use kvstore_fuzz::log::{frame_log, WAL_MAGIC};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Framed {
    payloads: Vec<Vec<u8>>,
    cut: Option<u16>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let newest = mode & 2 != 0;
    if mode & 1 == 0 {
        let _ = decode::wal_segment(rest, newest);
        return;
    }
    let Ok(f) = Framed::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let image = frame_log(WAL_MAGIC, &f.payloads);
    let all_valid = f
        .payloads
        .iter()
        .all(|p| !p.is_empty() && WriteBatch::decode(p).is_ok());
    let whole = decode::wal_segment(&image, newest);
    if all_valid {
        // Every record is intact and decodes: all of them come back.
        assert_eq!(whole, Ok(f.payloads.len()));
    }
    if let Some(cut) = f.cut {
        let cut = cut as usize % (image.len() + 1);
        let r = decode::wal_segment(&image[..cut], true);
        if all_valid {
            // A cut newest segment is a torn tail: a prefix of the records, never an error.
            let n = r.expect("a truncated newest WAL segment is a torn tail");
            assert!(n <= f.payloads.len());
        }
    }
});
