//! [`Arena`]: the value bytes of one memtable, bump-allocated in large chunks.
//!
//! Why: with a `Vec<u8>` per value, every insert paid a `malloc` and every flushed memtable a
//! `free` per entry — about a fifth of a `fillrandom` profile (`_int_malloc`, `_int_free`,
//! `malloc_consolidate`, `unlink_chunk`) — and each 100-byte value took a 112-byte heap chunk
//! plus a 24-byte `Vec` header in the skiplist node. Values are never freed one by one (a
//! memtable only grows until it is flushed and dropped whole), which is exactly what a bump
//! arena is for: an insert copies the bytes to the end of the current chunk, and dropping the
//! memtable frees a few dozen chunks.
//!
//! Invariants (what makes the one `unsafe` read sound):
//! - a chunk is allocated once, as a `Box<[u8]>` turned into a raw pointer, and freed only when
//!   the arena is dropped; its address never changes, so an [`ArenaSlice`] stays valid for as
//!   long as the arena lives;
//! - bytes are written once, under the arena's mutex, into a range no earlier slice covers,
//!   and never written again;
//! - an [`ArenaSlice`] is only created by [`Arena::push`] of this arena and only read through
//!   [`Arena::get`] while the arena is borrowed, so it can never outlive the bytes. The memtable
//!   keeps its slices inside the skiplist it owns next to the arena, and hands out copies of
//!   the bytes, never the slice.
//!
//! Memory visibility: the writer copies the bytes before it inserts the skiplist node holding
//! the slice; the skiplist publishes the node with a release store and a reader reaches it by
//! acquire loads, so a reader that finds the slice also sees the bytes.

use std::ptr::NonNull;

use parking_lot::Mutex;

/// Size of a full chunk. Values at least this large get a chunk of their own.
const MAX_CHUNK_BYTES: usize = 1 << 20;
/// The first chunk of an arena; each new chunk doubles up to [`MAX_CHUNK_BYTES`], so the many
/// small memtables (one per column family, most nearly empty) stay small.
const FIRST_CHUNK_BYTES: usize = 4 << 10;

/// Where one value lives in its arena. Plain data: copying it copies no bytes.
#[derive(Clone, Copy)]
pub(crate) struct ArenaSlice {
    ptr: NonNull<u8>,
    len: u32,
}

// SAFETY: an `ArenaSlice` is a read-only view of bytes that are never written again once the
// slice exists (module invariants); sharing or sending it shares nothing mutable.
unsafe impl Send for ArenaSlice {}
unsafe impl Sync for ArenaSlice {}

impl ArenaSlice {
    const EMPTY: ArenaSlice = ArenaSlice {
        ptr: NonNull::dangling(),
        len: 0,
    };

    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

struct Chunks {
    /// Every chunk allocated so far, to be freed with the arena: (start, size).
    all: Vec<(NonNull<u8>, usize)>,
    /// The chunk small values go to (dangling with `cur_cap == 0` before the first); its free
    /// space is `cur_used..cur_cap`.
    cur_base: NonNull<u8>,
    cur_used: usize,
    cur_cap: usize,
    /// Size of the next regular chunk.
    next_chunk: usize,
}

/// Append-only storage for value bytes. `Send + Sync`.
pub(crate) struct Arena {
    chunks: Mutex<Chunks>,
}

// SAFETY: the raw chunk pointers are owned by the arena (allocated in `new_chunk`, freed in
// `drop`) and only written under the mutex; see the module invariants.
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

impl Arena {
    pub fn new() -> Self {
        Arena {
            chunks: Mutex::new(Chunks {
                all: Vec::new(),
                cur_base: NonNull::dangling(),
                cur_used: 0,
                cur_cap: 0,
                next_chunk: FIRST_CHUNK_BYTES,
            }),
        }
    }

    /// Copies `bytes` into the arena. Values longer than `u32::MAX` bytes are not supported by
    /// the memtable; the engine refuses values over 256 MiB (`MAX_VALUE_BYTES`) before they get
    /// here, so the assertion below cannot fire from the engine.
    pub fn push(&self, bytes: &[u8]) -> ArenaSlice {
        if bytes.is_empty() {
            return ArenaSlice::EMPTY;
        }
        assert!(
            bytes.len() <= u32::MAX as usize,
            "memtable value of {} bytes exceeds the 4 GiB limit",
            bytes.len()
        );
        let mut c = self.chunks.lock();
        let start = if bytes.len() <= c.cur_cap - c.cur_used {
            // SAFETY: `cur_used + len <= cur_cap`, inside the current chunk's allocation.
            let p = unsafe { c.cur_base.as_ptr().add(c.cur_used) };
            c.cur_used += bytes.len();
            p
        } else if bytes.len() >= MAX_CHUNK_BYTES / 4 {
            // A large value gets a chunk of its own, and the current chunk keeps its free space
            // for the next small values.
            c.new_chunk(bytes.len()).as_ptr()
        } else {
            while c.next_chunk < bytes.len() {
                c.next_chunk *= 2;
            }
            let size = c.next_chunk;
            c.next_chunk = (size * 2).min(MAX_CHUNK_BYTES);
            c.cur_base = c.new_chunk(size);
            c.cur_used = bytes.len();
            c.cur_cap = size;
            c.cur_base.as_ptr()
        };
        // SAFETY: `start..start + len` lies in a chunk of this arena, was reserved above under
        // the lock for this value alone, and no slice covers it yet.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len()) };
        ArenaSlice {
            // SAFETY: a pointer into a live allocation is not null.
            ptr: unsafe { NonNull::new_unchecked(start) },
            len: bytes.len() as u32,
        }
    }

    /// The bytes of a slice this arena made.
    #[inline]
    pub fn get(&self, s: &ArenaSlice) -> &[u8] {
        // SAFETY: `s` was made by `push` of this arena (module invariants), its bytes were
        // written before it existed and are freed only when the arena is dropped, which the
        // borrow of `self` rules out for the returned lifetime. An empty slice is dangling but
        // aligned, as `from_raw_parts` allows for length 0.
        unsafe { std::slice::from_raw_parts(s.ptr.as_ptr(), s.len()) }
    }

    /// Bytes of every chunk allocated so far (including free space at the end of each).
    #[cfg(test)]
    pub fn allocated_bytes(&self) -> usize {
        self.chunks.lock().all.iter().map(|&(_, size)| size).sum()
    }
}

impl Chunks {
    fn new_chunk(&mut self, size: usize) -> NonNull<u8> {
        let b: Box<[u8]> = vec![0u8; size].into_boxed_slice();
        let raw = Box::into_raw(b) as *mut u8;
        // SAFETY: `Box::into_raw` never returns null.
        let base = unsafe { NonNull::new_unchecked(raw) };
        self.all.push((base, size));
        base
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for &(base, size) in &self.chunks.get_mut().all {
            // SAFETY: each (base, size) came from `Box::into_raw` of a `Box<[u8]>` of `size`
            // bytes in `new_chunk` and is freed exactly once, here.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(base.as_ptr(), size)) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_across_chunks_and_sizes() {
        let a = Arena::new();
        let mut kept = Vec::new();
        // Sizes cross the first chunk, the doubling, the large-value path and empty values.
        let sizes = [
            0usize,
            1,
            100,
            4095,
            4096,
            5000,
            300_000,
            7,
            1 << 20,
            2 << 20,
            3,
            0,
        ];
        for round in 0..20u8 {
            for (i, &n) in sizes.iter().enumerate() {
                let v: Vec<u8> = (0..n).map(|j| (j as u8) ^ round ^ i as u8).collect();
                kept.push((a.push(&v), v));
            }
        }
        for (s, v) in &kept {
            assert_eq!(a.get(s), &v[..]);
        }
        assert!(a.allocated_bytes() >= kept.iter().map(|(_, v)| v.len()).sum::<usize>());
    }

    #[test]
    fn small_values_pack_densely() {
        let a = Arena::new();
        let mut kept = Vec::new();
        for i in 0..100_000u32 {
            let v = [i.to_le_bytes(); 25].concat(); // 100 bytes
            kept.push((a.push(&v), v));
        }
        let used: usize = kept.iter().map(|(_, v)| v.len()).sum();
        // At most one chunk's worth of slack beyond the bytes themselves.
        assert!(
            a.allocated_bytes() <= used + MAX_CHUNK_BYTES,
            "{}",
            a.allocated_bytes()
        );
        assert!(kept.iter().all(|(s, v)| a.get(s) == &v[..]));
    }

    #[test]
    fn concurrent_pushes_keep_every_value() {
        let a = std::sync::Arc::new(Arena::new());
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let a = a.clone();
                std::thread::spawn(move || {
                    (0..20_000u32)
                        .map(|i| {
                            let v = vec![t; (i % 200) as usize];
                            (a.push(&v), v)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (s, v) in h.join().unwrap() {
                assert_eq!(a.get(&s), &v[..]);
            }
        }
    }
}
