//! Byte formats of every record the search layer writes (spec: `docs/search.md`).
//!
//! ```text
//! cf inverted  key   = term 0x00 doc_key                      (one key per term and document)
//!              value = tf varint, doc_len varint, tf × position delta varint
//! cf docmeta   key   = 'D' doc_key                            (per document)
//!              value = version u8 (1), doc_len varint, n_terms varint, n_terms × (len varint, term)
//!              key   = 'T' term                               (term dictionary)
//!              value = df varint                              (documents containing the term)
//!              key   = 'S'                                    (collection statistics)
//!              value = version u8 (1), doc_count varint, total_len varint
//! cf vectors   key   = doc_key
//!              value = dim × f32 little-endian
//! ```
//!
//! Invariants: a term holds no `0x00` (see [`crate::analysis`]), so `term 0x00` is a prefix of
//! exactly that term's postings, which sort by document key. Every posting stores the document's
//! length so a query scores from the postings scan alone. Positions are strictly increasing.

use crate::error::{Error, Result};

pub const CF_INVERTED: &str = "inverted";
pub const CF_DOCMETA: &str = "docmeta";
pub const CF_VECTORS: &str = "vectors";

const TAG_DOC: u8 = b'D';
const TAG_TERM: u8 = b'T';
/// Key of the collection statistics in `docmeta`.
pub const STATS_KEY: &[u8] = b"S";
const FORMAT_VERSION: u8 = 1;

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

/// The term of a term-dictionary key.
pub fn term_of_key(key: &[u8]) -> Option<&str> {
    key.strip_prefix(&[TAG_TERM])
        .and_then(|t| std::str::from_utf8(t).ok())
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

pub fn encode_df(df: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(4);
    put_varint(&mut v, df);
    v
}

pub fn decode_df(key: &[u8], mut v: &[u8]) -> Result<u64> {
    get_varint(&mut v).ok_or_else(|| Error::corrupt(CF_DOCMETA, key, "df"))
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

pub fn encode_stats(s: &CollectionStats) -> Vec<u8> {
    let mut v = vec![FORMAT_VERSION];
    put_varint(&mut v, s.doc_count);
    put_varint(&mut v, s.total_len);
    v
}

pub fn decode_stats(v: &[u8]) -> Result<CollectionStats> {
    let bad = |why: &str| Error::corrupt(CF_DOCMETA, STATS_KEY, why);
    let (&ver, mut cur) = v.split_first().ok_or_else(|| bad("empty"))?;
    if ver != FORMAT_VERSION {
        return Err(bad(&format!("unknown version {ver}")));
    }
    Ok(CollectionStats {
        doc_count: get_varint(&mut cur).ok_or_else(|| bad("doc_count"))?,
        total_len: get_varint(&mut cur).ok_or_else(|| bad("total_len"))?,
    })
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
        assert_eq!(decode_stats(&encode_stats(&s)).unwrap(), s);
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
