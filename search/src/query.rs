//! The query language, parsed into clauses that are each scored with BM25.
//!
//! - plain words: analyzed like documents (lowercased, stemmed); a document matches if it
//!   contains any of them (OR), ranked by the sum of the clause scores;
//! - `"spark plug"`: a phrase — the analyzed terms at adjacent positions (an unclosed quote runs
//!   to the end of the query; a one-word phrase is a plain word);
//! - `aero*`: a prefix — every indexed term starting with the lowercased fragment or with its
//!   stem (stemming may rewrite a fragment's ending, e.g. `happy*` → `happi`), expanded to at
//!   most `SearchOptions::max_prefix_expansions` terms, the most frequent first.
//!
//! A clause repeated in the query counts that many times (query term frequency), as in Lucene.
//! Invariant: a parsed query holds at most [`MAX_QUERY_CLAUSES`] clauses, none empty.

use crate::analysis::{words, Analyzer};
use crate::error::{Error, Result};

/// Most distinct clauses a query may have (each opens one postings stream or more).
pub const MAX_QUERY_CLAUSES: usize = 64;

/// One scored part of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    Term(String),
    /// Two or more terms that must be adjacent, in order.
    Phrase(Vec<String>),
    /// Candidate prefixes of indexed terms (lowercased fragment, and its stem when it differs).
    Prefix(Vec<String>),
}

/// A clause with its query frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedClause {
    pub clause: Clause,
    pub weight: f32,
}

/// Parses `query` with `analyzer` (the one documents are indexed with).
pub fn parse(query: &str, analyzer: &Analyzer) -> Result<Vec<WeightedClause>> {
    let mut out: Vec<WeightedClause> = Vec::new();
    let mut add = |c: Clause| {
        if let Some(w) = out.iter_mut().find(|w| w.clause == c) {
            w.weight += 1.0;
        } else {
            out.push(WeightedClause {
                clause: c,
                weight: 1.0,
            });
        }
    };
    for (i, seg) in query.split('"').enumerate() {
        if i % 2 == 1 {
            let mut terms: Vec<String> =
                analyzer.analyze(seg).into_iter().map(|t| t.term).collect();
            match terms.len() {
                0 => {}
                1 => add(Clause::Term(terms.remove(0))),
                _ => add(Clause::Phrase(terms)),
            }
            continue;
        }
        for (start, word) in words(seg) {
            if seg[start + word.len()..].starts_with('*') {
                let mut prefixes = vec![analyzer.lowercase(word)];
                let stem = analyzer.term(word);
                if !prefixes[0].starts_with(&stem) {
                    prefixes.push(stem);
                } else if stem.len() < prefixes[0].len() {
                    // The stem is a shorter prefix of the fragment: it matches a superset.
                    prefixes = vec![stem];
                }
                add(Clause::Prefix(prefixes));
            } else {
                add(Clause::Term(analyzer.term(word)));
            }
        }
    }
    if out.len() > MAX_QUERY_CLAUSES {
        return Err(Error::InvalidQuery(format!(
            "{} distinct clauses, at most {MAX_QUERY_CLAUSES} allowed",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Vec<(Clause, f32)> {
        parse(q, &Analyzer::english())
            .unwrap()
            .into_iter()
            .map(|w| (w.clause, w.weight))
            .collect()
    }

    fn t(s: &str) -> Clause {
        Clause::Term(s.into())
    }

    #[test]
    fn words_phrases_prefixes() {
        assert_eq!(
            p(r#"Wings "spark plugs" aerodyn*"#),
            [
                (t("wing"), 1.0),
                (Clause::Phrase(vec!["spark".into(), "plug".into()]), 1.0),
                (Clause::Prefix(vec!["aerodyn".into()]), 1.0),
            ]
        );
    }

    #[test]
    fn repeated_terms_weigh_more_and_one_word_phrase_is_a_term() {
        assert_eq!(p(r#"wing wings "wing""#), [(t("wing"), 3.0)]);
    }

    #[test]
    fn prefix_uses_the_stem_when_it_differs() {
        assert_eq!(
            p("happy*"),
            [(Clause::Prefix(vec!["happy".into(), "happi".into()]), 1.0)]
        );
        assert_eq!(p("plates*"), [(Clause::Prefix(vec!["plate".into()]), 1.0)]);
    }

    #[test]
    fn unclosed_quote_and_empty_queries() {
        assert_eq!(
            p(r#""boundary layer"#),
            [(Clause::Phrase(vec!["boundari".into(), "layer".into()]), 1.0)]
        );
        assert!(p("").is_empty());
        assert!(p(r#"!! "" *"#).is_empty());
    }

    #[test]
    fn too_many_clauses_is_an_error() {
        let q: Vec<String> = (0..=MAX_QUERY_CLAUSES).map(|i| format!("w{i}")).collect();
        assert!(matches!(
            parse(&q.join(" "), &Analyzer::english()),
            Err(Error::InvalidQuery(_))
        ));
    }
}
