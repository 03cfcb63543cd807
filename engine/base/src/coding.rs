//! Fixed-width little-endian integers and LEB128 varints.
//!
//! Decoders take a cursor (`&mut &[u8]`) and return `None` on truncated or over-long input, so a
//! caller turns that into a `Corruption` error with its own file and offset.

/// Appends `v` as a LEB128 varint (1..=10 bytes).
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a LEB128 varint from the front of `input`, advancing it.
/// `None` when truncated or longer than 10 bytes / overflowing 64 bits.
#[inline]
pub fn get_varint(input: &mut &[u8]) -> Option<u64> {
    // Fast path, inlined into callers: most lengths in blocks and batches fit in one byte.
    if let Some((&b, rest)) = input.split_first() {
        if b < 0x80 {
            *input = rest;
            return Some(u64::from(b));
        }
    }
    get_varint_multi(input)
}

/// The general case of [`get_varint`], kept out of line.
#[inline(never)]
fn get_varint_multi(input: &mut &[u8]) -> Option<u64> {
    let mut result: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        let low = (b & 0x7f) as u64;
        if i == 9 && low > 1 {
            return None;
        }
        result |= low << (7 * i);
        if b & 0x80 == 0 {
            return Some(result);
        }
    }
    None
}

/// Appends a length-prefixed byte string.
#[inline]
pub fn put_bytes(buf: &mut Vec<u8>, data: &[u8]) {
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// Reads a length-prefixed byte string, advancing `input`. Never allocates more than `input` holds.
#[inline]
pub fn get_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = get_varint(input)?;
    if len > input.len() as u64 {
        return None;
    }
    let (head, rest) = input.split_at(len as usize);
    *input = rest;
    Some(head)
}

#[inline]
pub fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn get_u32(input: &mut &[u8]) -> Option<u32> {
    if input.len() < 4 {
        return None;
    }
    let (head, rest) = input.split_at(4);
    *input = rest;
    Some(u32::from_le_bytes([head[0], head[1], head[2], head[3]]))
}

#[inline]
pub fn get_u64(input: &mut &[u8]) -> Option<u64> {
    if input.len() < 8 {
        return None;
    }
    let (head, rest) = input.split_at(8);
    *input = rest;
    let mut a = [0u8; 8];
    a.copy_from_slice(head);
    Some(u64::from_le_bytes(a))
}

/// Reads a little-endian u32 at `pos` of `data` without a cursor.
#[inline]
pub fn read_u32_at(data: &[u8], pos: usize) -> Option<u32> {
    let s = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a little-endian u64 at `pos` of `data` without a cursor.
#[inline]
pub fn read_u64_at(data: &[u8], pos: usize) -> Option<u64> {
    let s = data.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut s = &b[..];
            assert_eq!(get_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
    }

    #[test]
    fn varint_rejects_truncated_and_overlong() {
        let mut s: &[u8] = &[0x80, 0x80];
        assert_eq!(get_varint(&mut s), None);
        let mut s: &[u8] = &[0xff; 11];
        assert_eq!(get_varint(&mut s), None);
        // 10th byte may only carry one bit.
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(get_varint(&mut s), None);
    }

    #[test]
    fn bytes_length_is_bounded_by_input() {
        let mut b = Vec::new();
        put_varint(&mut b, 1 << 40);
        b.extend_from_slice(b"abc");
        let mut s = &b[..];
        assert_eq!(get_bytes(&mut s), None);
    }
}
