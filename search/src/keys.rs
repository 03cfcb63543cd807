//! Byte formats of every record the search layer writes (spec: `docs/search.md`).
//!
//! ```text
//! cf inverted  key   = term 0x00 doc_key                      (one key per term and document)
//!              value = tf varint, doc_len varint, tf × position delta varint
//! cf docmeta   key   = 'D' doc_key                            (per document)
//!              value = version u8 (1), doc_len varint, n_terms varint, n_terms × (len varint, term)
//!              key   = 'T' term 0x00 stripe u8                (term dictionary, per stripe)
//!              value = df delta, zigzag varint                (documents containing the term)
//!              key   = 'S' stripe u8                          (collection statistics, per stripe)
//!              value = version u8 (2), doc_count delta zigzag varint, total_len delta zigzag varint
//!              key   = 'P'                                    (applied position, opaque bytes)
//!              legacy, still read and summed: 'T' term → df varint; 'S' → version 1, unsigned
//! cf vectors   key   = doc_key
//!              value = dim × f32 little-endian
//! ```
//!
//! Invariants: a term holds no `0x00` (see [`crate::analysis`]), so `term 0x00` is a prefix of
//! exactly that term's postings, which sort by document key (and, in `docmeta`, of that term's
//! stripe records). Every posting stores the document's length so a query scores from the
//! postings scan alone. Positions are strictly increasing.
//!
//! Collection statistics and document frequencies are *striped counters* (`counters.rs`): a
//! document's contributions go to the stripe its key hashes to, so writers of documents in
//! different stripes never touch the same record; a value is the sum over its stripe records
//! (and a legacy unstriped record, from databases written before the stripes).

use crate::error::{Error, Result};

pub const CF_INVERTED: &str = "inverted";
pub const CF_DOCMETA: &str = "docmeta";
pub const CF_VECTORS: &str = "vectors";

const TAG_DOC: u8 = b'D';
const TAG_TERM: u8 = b'T';
/// Key of the legacy (unstriped) collection statistics in `docmeta`, and the prefix of every
/// statistics record.
pub const STATS_KEY: &[u8] = b"S";
/// Key of the applied position in `docmeta` (see `Indexer::apply`).
pub const POSITION_KEY: &[u8] = b"P";
const FORMAT_VERSION: u8 = 1;
/// Version of a striped statistics record (signed deltas).
const STRIPED_STATS_VERSION: u8 = 2;
/// How many stripes the counters are split into: writers of documents in different stripes
/// proceed in parallel. Four: a batch of many documents reads and writes one record per
/// (term, stripe) it touches, so more stripes cost grouped writes (16 stripes: 15 % of the
/// server's durable SET throughput at 64 clients; see `docs/search.md`).
pub const STRIPES: u8 = 4;

/// The stripe of a document: FNV-1a of its key. Any function would stay correct (the counters
/// are signed deltas summed at read), but a stable one keeps each stripe's record equal to the
/// count of its own documents.
pub fn stripe_of(doc: &[u8]) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in doc {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(STRIPES)) as u8
}

/// The statistics record of `stripe`.
pub fn stats_key(stripe: u8) -> [u8; 2] {
    [STATS_KEY[0], stripe]
}

/// The document-frequency record of `term` in `stripe`.
pub fn df_key(term: &str, stripe: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 3);
    k.push(TAG_TERM);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.push(stripe);
    k
}

/// The key range holding every document-frequency record of `term`: the legacy one and the
/// stripes (`'T' term` up to, not including, `'T' term 0x01`).
pub fn df_range(term: &str) -> (Vec<u8>, Vec<u8>) {
    let start = term_key(term);
    let mut end = start.clone();
    end.push(1);
    (start, end)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A signed counter value (a df stripe record).
pub fn encode_counter(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    put_varint(&mut out, zigzag(v));
    out
}

/// A df record, striped (signed) or legacy (unsigned), by its key.
pub fn decode_df_record(key: &[u8], mut v: &[u8]) -> Result<i64> {
    let bad = || Error::corrupt(CF_DOCMETA, key, "df");
    let raw = get_varint(&mut v).ok_or_else(bad)?;
    if key.contains(&0) {
        Ok(unzigzag(raw))
    } else {
        i64::try_from(raw).map_err(|_| bad())
    }
}

/// A striped statistics record: signed document count and total length.
pub fn encode_stats_delta(doc_count: i64, total_len: i64) -> Vec<u8> {
    let mut v = vec![STRIPED_STATS_VERSION];
    put_varint(&mut v, zigzag(doc_count));
    put_varint(&mut v, zigzag(total_len));
    v
}

/// A statistics record, striped or legacy: `(doc_count, total_len)`, signed.
pub fn decode_stats_record(key: &[u8], v: &[u8]) -> Result<(i64, i64)> {
    let bad = |why: &str| Error::corrupt(CF_DOCMETA, key, why);
    let (&ver, mut cur) = v.split_first().ok_or_else(|| bad("empty"))?;
    let mut field = |what: &str| get_varint(&mut cur).ok_or_else(|| bad(what));
    match ver {
        FORMAT_VERSION => {
            let dc = field("doc_count")?;
            let tl = field("total_len")?;
            Ok((
                i64::try_from(dc).map_err(|_| bad("doc_count"))?,
                i64::try_from(tl).map_err(|_| bad("total_len"))?,
            ))
        }
        STRIPED_STATS_VERSION => {
            let dc = field("doc_count")?;
            let tl = field("total_len")?;
            Ok((unzigzag(dc), unzigzag(tl)))
        }
        v => Err(bad(&format!("unknown version {v}"))),
    }
}

pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// `term 0x00`: the scan prefix of one term's postings.
pub fn posting_prefix(term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k
}

/// `term 0x00 doc_key`.
pub fn posting_key(term: &str, doc: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1 + doc.len());
    posting_key_into(&mut k, term, doc);
    k
}

/// One decoded posting value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub tf: u32,
    pub doc_len: u32,
    pub positions: Vec<u32>,
}

pub fn encode_posting(doc_len: u32, positions: &[u32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + positions.len() * 2);
    encode_posting_into(&mut v, doc_len, positions);
    v
}

/// [`encode_posting`] into a reused buffer (cleared first).
pub fn encode_posting_into(v: &mut Vec<u8>, doc_len: u32, positions: &[u32]) {
    v.clear();
    put_varint(v, positions.len() as u64);
    put_varint(v, u64::from(doc_len));
    let mut prev = 0u32;
    for &p in positions {
        put_varint(v, u64::from(p - prev));
        prev = p;
    }
}

/// [`posting_key`] into a reused buffer (cleared first); starts with [`posting_prefix`].
pub fn posting_key_into(k: &mut Vec<u8>, term: &str, doc: &[u8]) {
    k.clear();
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(doc);
}

/// Decodes tf and document length only (what a plain term scores with).
pub fn decode_posting_head(key: &[u8], mut v: &[u8]) -> Result<(u32, u32)> {
    let bad = || Error::corrupt(CF_INVERTED, key, "truncated posting");
    let tf = get_varint(&mut v).ok_or_else(bad)? as u32;
    let dl = get_varint(&mut v).ok_or_else(bad)? as u32;
    Ok((tf, dl))
}

pub fn decode_posting(key: &[u8], mut v: &[u8]) -> Result<Posting> {
    let bad = || Error::corrupt(CF_INVERTED, key, "truncated posting");
    let tf = get_varint(&mut v).ok_or_else(bad)? as u32;
    let doc_len = get_varint(&mut v).ok_or_else(bad)? as u32;
    let mut positions = Vec::with_capacity(tf as usize);
    let mut p = 0u32;
    for _ in 0..tf {
        p += get_varint(&mut v).ok_or_else(bad)? as u32;
        positions.push(p);
    }
    Ok(Posting {
        tf,
        doc_len,
        positions,
    })
}

pub fn doc_key(doc: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(doc.len() + 1);
    k.push(TAG_DOC);
    k.extend_from_slice(doc);
    k
}

pub fn term_key(term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1);
    k.push(TAG_TERM);
    k.extend_from_slice(term.as_bytes());
    k
}

/// The term-dictionary prefix for a term prefix (prefix queries scan it).
pub fn term_key_prefix(prefix: &str) -> Vec<u8> {
    term_key(prefix)
}

/// The term of a term-dictionary key (legacy, or a stripe record: the suffix is cut).
pub fn term_of_key(key: &[u8]) -> Option<&str> {
    let t = key.strip_prefix(&[TAG_TERM])?;
    let t = match t.iter().position(|&b| b == 0) {
        Some(i) => &t[..i],
        None => t,
    };
    std::str::from_utf8(t).ok()
}

/// What `docmeta` remembers of a document: enough to remove its postings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocMeta {
    pub doc_len: u32,
    /// Distinct terms, sorted.
    pub terms: Vec<String>,
}

pub fn encode_docmeta(m: &DocMeta) -> Vec<u8> {
    let mut v = Vec::new();
    encode_docmeta_into(&mut v, m.doc_len, m.terms.iter().map(String::as_str));
    v
}

/// The `'D'` record of a document of `doc_len` tokens with these distinct `terms` (sorted),
/// into a reused buffer (cleared first).
pub fn encode_docmeta_into<'t>(
    v: &mut Vec<u8>,
    doc_len: u32,
    terms: impl ExactSizeIterator<Item = &'t str>,
) {
    v.clear();
    v.push(FORMAT_VERSION);
    put_varint(v, u64::from(doc_len));
    put_varint(v, terms.len() as u64);
    for t in terms {
        put_varint(v, t.len() as u64);
        v.extend_from_slice(t.as_bytes());
    }
}

pub fn decode_docmeta(key: &[u8], v: &[u8]) -> Result<DocMeta> {
    let bad = |why: &str| Error::corrupt(CF_DOCMETA, key, why);
    let (&ver, mut cur) = v.split_first().ok_or_else(|| bad("empty"))?;
    if ver != FORMAT_VERSION {
        return Err(bad(&format!("unknown version {ver}")));
    }
    let doc_len = get_varint(&mut cur).ok_or_else(|| bad("doc_len"))? as u32;
    let n = get_varint(&mut cur).ok_or_else(|| bad("n_terms"))? as usize;
    let mut terms = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let len = get_varint(&mut cur).ok_or_else(|| bad("term length"))? as usize;
        if cur.len() < len {
            return Err(bad("term bytes"));
        }
        let (t, rest) = cur.split_at(len);
        cur = rest;
        terms.push(String::from_utf8(t.to_vec()).map_err(|_| bad("term not UTF-8"))?);
    }
    Ok(DocMeta { doc_len, terms })
}

/// A legacy (unstriped) df record: what databases written before the stripes hold under
/// `'T' term`. Only tests write it now; readers still sum it.
pub fn encode_df(df: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(4);
    put_varint(&mut v, df);
    v
}

/// Collection statistics for BM25.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectionStats {
    /// Indexed documents.
    pub doc_count: u64,
    /// Sum of their lengths in terms.
    pub total_len: u64,
}

impl CollectionStats {
    /// Average document length (1 for an empty collection, so BM25 never divides by zero).
    pub fn avg_len(&self) -> f32 {
        if self.doc_count == 0 || self.total_len == 0 {
            1.0
        } else {
            self.total_len as f32 / self.doc_count as f32
        }
    }
}

/// A legacy (unstriped, version 1) statistics record, under `'S'`. Only tests write it now;
/// readers still sum it.
pub fn encode_stats(s: &CollectionStats) -> Vec<u8> {
    let mut v = vec![FORMAT_VERSION];
    put_varint(&mut v, s.doc_count);
    put_varint(&mut v, s.total_len);
    v
}

pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    encode_vector_into(&mut out, v);
    out
}

/// [`encode_vector`] into a reused buffer (cleared first).
pub fn encode_vector_into(out: &mut Vec<u8>, v: &[f32]) {
    out.clear();
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

pub fn decode_vector(key: &[u8], bytes: &[u8], dim: usize) -> Result<Vec<f32>> {
    if bytes.len() != dim * 4 {
        if bytes.len() % 4 == 0 {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: bytes.len() / 4,
            });
        }
        return Err(Error::corrupt(
            CF_VECTORS,
            key,
            format!("{} bytes", bytes.len()),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut s = &b[..];
            assert_eq!(get_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
        assert_eq!(get_varint(&mut &[0x80u8][..]), None);
    }

    #[test]
    fn posting_roundtrip_and_key_order() {
        let v = encode_posting(17, &[0, 3, 200]);
        let p = decode_posting(b"k", &v).unwrap();
        assert_eq!(
            p,
            Posting {
                tf: 3,
                doc_len: 17,
                positions: vec![0, 3, 200]
            }
        );
        assert_eq!(decode_posting_head(b"k", &v).unwrap(), (3, 17));
        assert!(decode_posting(b"k", &v[..v.len() - 1]).is_err());
        // "ab" postings sort before "ab" + anything longer, and never interleave with "abc".
        assert!(posting_key("ab", b"zzz") < posting_key("abc", b""));
        assert!(!posting_key("abc", b"x").starts_with(&posting_prefix("ab")));
    }

    #[test]
    fn docmeta_stats_vector_roundtrip() {
        let m = DocMeta {
            doc_len: 5,
            terms: vec!["a".into(), "plug".into()],
        };
        assert_eq!(decode_docmeta(b"D", &encode_docmeta(&m)).unwrap(), m);
        let s = CollectionStats {
            doc_count: 3,
            total_len: 99,
        };
        assert_eq!(
            decode_stats_record(STATS_KEY, &encode_stats(&s)).unwrap(),
            (3, 99)
        );
        for (d, l) in [(0, 0), (-3, -99), (i64::MAX, i64::MIN), (7, -1)] {
            let k = stats_key(5);
            assert_eq!(
                decode_stats_record(&k, &encode_stats_delta(d, l)).unwrap(),
                (d, l)
            );
        }
        for n in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(
                decode_df_record(&df_key("t", 3), &encode_counter(n)).unwrap(),
                n
            );
        }
        assert_eq!(decode_df_record(&term_key("t"), &encode_df(9)).unwrap(), 9);
        assert_eq!(term_of_key(&df_key("plug", 7)), Some("plug"));
        assert_eq!(term_of_key(&term_key("plug")), Some("plug"));
        let (lo, hi) = df_range("ab");
        assert!(lo <= df_key("ab", 0) && df_key("ab", 15) < hi);
        assert!(term_key("abc") >= hi, "a longer term is outside the range");
        let v = vec![1.0f32, -2.5, 0.0];
        assert_eq!(decode_vector(b"k", &encode_vector(&v), 3).unwrap(), v);
        assert!(matches!(
            decode_vector(b"k", &encode_vector(&v), 4),
            Err(Error::DimensionMismatch {
                expected: 4,
                got: 3
            })
        ));
        assert_eq!(term_of_key(&term_key("wing")), Some("wing"));
    }
}
