//! Text analysis: the one pipeline that turns documents *and* queries into terms.
//!
//! Pipeline: Unicode word segmentation (UAX #29, `unicode-segmentation`) → keep segments that
//! hold at least one letter or digit → lowercase → English Snowball (Porter2) stemming
//! (`rust-stemmers`) → cap at [`MAX_TERM_BYTES`].
//!
//! Invariants:
//! - Documents and queries go through [`Analyzer::analyze`]; a term found in a query is spelled
//!   exactly as the same word in a document.
//! - No word is dropped: there is **no stopword list** (BM25's IDF already discounts common
//!   words, and phrase queries need every position). Only segments without any letter or digit
//!   (spaces, punctuation, symbols) produce no term.
//! - A term never contains `\0` (it separates term and document key in `inverted` keys) and is
//!   never longer than [`MAX_TERM_BYTES`]: a longer word is truncated at a char boundary (kept,
//!   not dropped).
//! - Positions count terms from 0, without gaps.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// Longest term kept in the index, in bytes; longer words are truncated to this.
pub const MAX_TERM_BYTES: usize = 64;

/// One analyzed word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The indexed form: lowercased and stemmed.
    pub term: String,
    /// Ordinal of the token in the text (0-based, no gaps).
    pub position: u32,
    /// Byte range of the original word in the text.
    pub start: usize,
    pub end: usize,
}

/// The English analyzer. Cheap to share (`Send + Sync`).
pub struct Analyzer {
    stemmer: Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::english()
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer(english)")
    }
}

impl Analyzer {
    /// Lowercasing plus the English Snowball stemmer.
    pub fn english() -> Self {
        Analyzer {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }

    /// Splits `text` into tokens, in order.
    pub fn analyze(&self, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        for (start, word) in words(text) {
            out.push(Token {
                term: self.term(word),
                position: out.len() as u32,
                start,
                end: start + word.len(),
            });
        }
        out
    }

    /// The indexed form of one word: lowercased, stemmed, capped.
    pub fn term(&self, word: &str) -> String {
        let lower = lowercase(word);
        let stemmed = self.stemmer.stem(&lower).into_owned();
        cap(stemmed)
    }

    /// Lowercased (unstemmed) form of a word, capped; used for prefix queries, where the
    /// typed text is a word fragment that stemming would mangle.
    pub fn lowercase(&self, word: &str) -> String {
        lowercase(word)
    }
}

/// The word segments of `text` (those with a letter or digit), with their byte offsets.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_word_bound_indices()
        .filter(|(_, w)| w.chars().any(char::is_alphanumeric))
}

fn lowercase(word: &str) -> String {
    cap(word
        .chars()
        .filter(|c| *c != '\0')
        .flat_map(char::to_lowercase)
        .collect())
}

fn cap(mut s: String) -> String {
    if s.len() > MAX_TERM_BYTES {
        let mut end = MAX_TERM_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        Analyzer::english()
            .analyze(text)
            .into_iter()
            .map(|t| t.term)
            .collect()
    }

    #[test]
    fn lowercases_stems_and_keeps_stopwords() {
        assert_eq!(
            terms("The Running of the Boundary-Layers"),
            ["the", "run", "of", "the", "boundari", "layer"]
        );
    }

    #[test]
    fn unicode_words_and_numbers() {
        assert_eq!(
            terms("Ünïcode naïve café, 3.5 km/s"),
            ["ünïcode", "naïv", "café", "3.5", "km", "s"]
        );
        assert_eq!(terms("Straße ΑΒΓ"), ["straße", "αβγ"]);
    }

    #[test]
    fn positions_and_offsets() {
        let text = "spark, plug!";
        let toks = Analyzer::english().analyze(text);
        assert_eq!(toks.len(), 2);
        assert_eq!(
            (toks[1].position, &text[toks[1].start..toks[1].end]),
            (1, "plug")
        );
    }

    #[test]
    fn punctuation_only_yields_nothing_and_long_words_are_capped() {
        assert!(terms("!!! -- ...").is_empty());
        let long = "x".repeat(300);
        let t = terms(&long);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].len(), MAX_TERM_BYTES);
    }

    #[test]
    fn same_analysis_for_query_and_document() {
        let a = Analyzer::english();
        assert_eq!(a.term("Aerodynamics"), a.term("aerodynamic"));
        assert_eq!(a.term("plates"), a.term("plate"));
    }
}
