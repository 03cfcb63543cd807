//! A manifest image and single version edits. First byte: 0 = one edit payload, 1 = a raw
//! manifest image, otherwise edits framed as a manifest with correct checksums.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use kvstore_engine::decode;
use kvstore_fuzz::log::{frame_log, MANIFEST_MAGIC};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Framed {
    payloads: Vec<Vec<u8>>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => {
            let _ = decode::version_edit(rest);
        }
        1 => {
            let _ = decode::manifest(rest);
        }
        _ => {
            let Ok(f) = Framed::arbitrary_take_rest(Unstructured::new(rest)) else {
                return;
            };
            let image = frame_log(MANIFEST_MAGIC, &f.payloads);
            let all_valid = f
                .payloads
                .iter()
                .all(|p| !p.is_empty() && decode::version_edit(p).is_ok());
            let r = decode::manifest(&image);
            if all_valid {
                assert_eq!(r, Ok(f.payloads.len()));
            }
        }
    }
});
