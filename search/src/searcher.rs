//! Full-text query execution: parsed clauses → postings cursors → document-at-a-time BM25 →
//! top-k heap, with MaxScore pruning.
//!
//! MaxScore (Turtle & Flood, 1995): each clause's score is bounded by `weight · (k1 + 1)`. With
//! clauses sorted by bound, once the heap is full the lowest-bound clauses whose bounds sum
//! below the heap's threshold are *non-essential*: a document matching only them cannot enter
//! the top k. Candidates come from the essential clauses only; non-essential cursors are sought
//! to each candidate, and skipped once the candidate cannot reach the threshold. The ranking is
//! the same as without pruning (bounds get a relative safety margin against rounding).
//!
//! Everything reads one engine [`Snapshot`], so the statistics, the term dictionary and the
//! postings agree with each other and every key returned is readable in that snapshot.
//! Memory is bounded by the number of open cursors (≤ clauses × prefix expansions, one posting
//! each) plus the `k`-entry heap: nothing grows with the index.

use crate::analysis::Analyzer;
use crate::bm25::{idf, term_score, Bm25Params};
use crate::counters;
use crate::error::Result;
use crate::keys::CollectionStats;
use crate::postings::PostingCursor;
use crate::query::{parse, Clause};
use crate::topk::TopK;
use kvstore_engine::{ColumnFamily, Snapshot};
use std::collections::HashSet;

/// What a full-text query needs to run.
pub struct FullTextSearcher<'a> {
    pub snap: &'a Snapshot,
    pub inverted: &'a ColumnFamily,
    pub docmeta: &'a ColumnFamily,
    pub analyzer: &'a Analyzer,
    pub params: Bm25Params,
    pub max_prefix_expansions: usize,
}

/// Ranked keys plus the terms that matched (for highlighting).
pub struct FullTextResult {
    /// Best first.
    pub hits: Vec<(Vec<u8>, f32)>,
    /// Every indexed term the query looked up (after prefix expansion).
    pub terms: HashSet<String>,
}

enum ClauseScorer<'a> {
    Term {
        /// Boxed: a real engine iterator is large, and phrases hold a `Vec` of cursors.
        cursor: Box<PostingCursor<'a>>,
        /// idf × query weight.
        weight: f32,
    },
    Phrase {
        cursors: Vec<PostingCursor<'a>>,
        weight: f32,
        /// Matches of the phrase in the current document (when not done).
        freq: u32,
        doc_len: u32,
        done: bool,
    },
}

impl ClauseScorer<'_> {
    /// Largest score this clause can give any document.
    fn upper_bound(&self, p: Bm25Params) -> f32 {
        match self {
            ClauseScorer::Term { weight, .. } | ClauseScorer::Phrase { weight, .. } => {
                weight * (p.k1 + 1.0)
            }
        }
    }

    /// Moves to the first matching document `>= target`.
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        match self {
            ClauseScorer::Term { cursor, .. } => cursor.seek(target),
            ClauseScorer::Phrase { cursors, done, .. } => {
                if *done || !matches!(cursors.first().and_then(|c| c.doc()), Some(d) if d < target)
                {
                    return Ok(());
                }
                if let Some(c) = cursors.first_mut() {
                    c.seek(target)?;
                }
                self.settle_phrase()
            }
        }
    }

    fn doc(&self) -> Option<&[u8]> {
        match self {
            ClauseScorer::Term { cursor, .. } => cursor.doc(),
            ClauseScorer::Phrase { cursors, done, .. } => {
                if *done {
                    None
                } else {
                    cursors.first().and_then(|c| c.doc())
                }
            }
        }
    }

    /// Score of the current document; then moves past it.
    fn score_and_advance(&mut self, avgdl: f32, p: Bm25Params) -> Result<f32> {
        match self {
            ClauseScorer::Term { cursor, weight } => {
                let (tf, dl) = cursor.head()?;
                cursor.advance()?;
                Ok(term_score(*weight, tf as f32, dl as f32, avgdl, p))
            }
            ClauseScorer::Phrase {
                cursors,
                weight,
                freq,
                doc_len,
                ..
            } => {
                let s = term_score(*weight, *freq as f32, *doc_len as f32, avgdl, p);
                if let Some(c) = cursors.first_mut() {
                    c.advance()?;
                }
                self.settle_phrase()?;
                Ok(s)
            }
        }
    }

    /// Moves a phrase scorer to the next document where all its terms occur adjacently.
    fn settle_phrase(&mut self) -> Result<()> {
        let ClauseScorer::Phrase {
            cursors,
            freq,
            doc_len,
            done,
            ..
        } = self
        else {
            return Ok(());
        };
        loop {
            let Some(mut target) = cursors.first().and_then(|c| c.doc()).map(<[u8]>::to_vec) else {
                *done = true;
                return Ok(());
            };
            // Leapfrog until every cursor sits on `target`.
            loop {
                let mut moved = false;
                for c in cursors.iter_mut() {
                    c.seek(&target)?;
                    match c.doc() {
                        None => {
                            *done = true;
                            return Ok(());
                        }
                        Some(d) if d > target.as_slice() => {
                            target = d.to_vec();
                            moved = true;
                        }
                        Some(_) => {}
                    }
                }
                if !moved {
                    break;
                }
            }
            let mut lists = Vec::with_capacity(cursors.len());
            for c in cursors.iter() {
                if let Some(p) = c.posting()? {
                    *doc_len = p.doc_len;
                    lists.push(p.positions);
                }
            }
            let f = phrase_freq(&lists);
            if f > 0 {
                *freq = f;
                return Ok(());
            }
            if let Some(c) = cursors.first_mut() {
                c.advance()?;
            }
        }
    }
}

/// How many times the terms with these (sorted) position lists occur adjacently, in order.
pub fn phrase_freq(lists: &[Vec<u32>]) -> u32 {
    let Some((first, rest)) = lists.split_first() else {
        return 0;
    };
    first
        .iter()
        .filter(|&&p| {
            rest.iter()
                .enumerate()
                .all(|(i, l)| l.binary_search(&(p + i as u32 + 1)).is_ok())
        })
        .count() as u32
}

impl FullTextSearcher<'_> {
    fn stats(&self) -> Result<CollectionStats> {
        counters::collection_stats(self.snap, self.docmeta)
    }

    fn df(&self, term: &str) -> Result<u64> {
        counters::doc_freq(self.snap, self.docmeta, term)
    }

    /// The most frequent indexed terms starting with any of `prefixes`.
    fn expand(&self, prefixes: &[String]) -> Result<Vec<(String, u64)>> {
        let mut best = TopK::new(self.max_prefix_expansions);
        let mut seen = HashSet::new();
        for p in prefixes {
            for (t, df) in counters::terms_with_prefix(self.snap, self.docmeta, p)? {
                if seen.insert(t.clone()) {
                    best.push(df as f32, t.into_bytes());
                }
            }
        }
        Ok(best
            .into_sorted()
            .into_iter()
            .map(|(t, df)| (String::from_utf8_lossy(&t).into_owned(), df as u64))
            .collect())
    }

    /// Runs `query` and returns the `k` best documents.
    pub fn run(&self, query: &str, k: usize) -> Result<FullTextResult> {
        let clauses = parse(query, self.analyzer)?;
        if k == 0 {
            return Ok(FullTextResult {
                hits: Vec::new(),
                terms: HashSet::new(),
            });
        }
        let stats = self.stats()?;
        let n = stats.doc_count;
        let mut terms = HashSet::new();
        let mut scorers = Vec::new();
        for wc in clauses {
            match wc.clause {
                Clause::Term(t) => {
                    let df = self.df(&t)?;
                    if df > 0 {
                        let cursor = Box::new(PostingCursor::open(self.snap, self.inverted, &t)?);
                        scorers.push(ClauseScorer::Term {
                            cursor,
                            weight: idf(df, n) * wc.weight,
                        });
                    }
                    terms.insert(t);
                }
                Clause::Prefix(ps) => {
                    for (t, df) in self.expand(&ps)? {
                        let cursor = Box::new(PostingCursor::open(self.snap, self.inverted, &t)?);
                        scorers.push(ClauseScorer::Term {
                            cursor,
                            weight: idf(df, n) * wc.weight,
                        });
                        terms.insert(t);
                    }
                }
                Clause::Phrase(ts) => {
                    let mut w = 0.0;
                    let mut cursors = Vec::with_capacity(ts.len());
                    for t in &ts {
                        w += idf(self.df(t)?, n);
                        cursors.push(PostingCursor::open(self.snap, self.inverted, t)?);
                    }
                    let mut s = ClauseScorer::Phrase {
                        cursors,
                        weight: w * wc.weight,
                        freq: 0,
                        doc_len: 0,
                        done: false,
                    };
                    s.settle_phrase()?;
                    scorers.push(s);
                    terms.extend(ts);
                }
            }
        }
        let avgdl = stats.avg_len();
        let hits = self.score_max_score(scorers, avgdl, k)?;
        Ok(FullTextResult { hits, terms })
    }

    /// Document-at-a-time scoring with MaxScore pruning (see the module docs).
    fn score_max_score(
        &self,
        mut scorers: Vec<ClauseScorer<'_>>,
        avgdl: f32,
        k: usize,
    ) -> Result<Vec<(Vec<u8>, f32)>> {
        let p = self.params;
        scorers.sort_by(|a, b| a.upper_bound(p).total_cmp(&b.upper_bound(p)));
        // prefix[i] = sum of the bounds of scorers[0..=i]
        let prefix: Vec<f32> = scorers
            .iter()
            .scan(0.0f32, |acc, s| {
                *acc += s.upper_bound(p);
                Some(*acc)
            })
            .collect();
        let cannot_reach = |bound: f32, threshold: Option<f32>| {
            threshold.is_some_and(|t| bound * (1.0 + 1e-4) < t)
        };
        let mut top = TopK::new(k);
        let mut first_essential = 0;
        loop {
            let threshold = top.threshold();
            while first_essential < scorers.len()
                && cannot_reach(prefix[first_essential], threshold)
            {
                first_essential += 1;
            }
            let Some(doc) = scorers[first_essential..]
                .iter()
                .filter_map(|s| s.doc())
                .min()
                .map(<[u8]>::to_vec)
            else {
                break;
            };
            let mut score = 0.0;
            for s in scorers[first_essential..].iter_mut() {
                if s.doc() == Some(doc.as_slice()) {
                    score += s.score_and_advance(avgdl, p)?;
                }
            }
            for i in (0..first_essential).rev() {
                if cannot_reach(score + prefix[i], threshold) {
                    break;
                }
                let s = &mut scorers[i];
                s.seek(&doc)?;
                if s.doc() == Some(doc.as_slice()) {
                    score += s.score_and_advance(avgdl, p)?;
                }
            }
            top.push(score, doc);
        }
        Ok(top.into_sorted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_frequency() {
        assert_eq!(phrase_freq(&[vec![0, 5, 9], vec![1, 6, 20]]), 2);
        assert_eq!(phrase_freq(&[vec![0], vec![2]]), 0);
        // "to be or not to be": "to be" twice
        assert_eq!(phrase_freq(&[vec![0, 4], vec![1, 5]]), 2);
        assert_eq!(phrase_freq(&[]), 0);
    }
}
