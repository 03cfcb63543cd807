//! Highlighted snippets: the window of a document with the most query-term matches.
//!
//! Output is an HTML fragment: the document text is escaped (`&`, `<`, `>`, `"`), matched words
//! are wrapped in `<b>…</b>`, and `…` marks text cut at either end. Matching uses the same
//! analysis as the index, so `plugs` is highlighted for the query `plug`.

use crate::analysis::Analyzer;
use std::collections::HashSet;

/// Words of context in a snippet.
pub const SNIPPET_WORDS: usize = 30;

/// The best `SNIPPET_WORDS`-word window of `text` for `terms`, highlighted.
pub fn snippet(text: &str, analyzer: &Analyzer, terms: &HashSet<String>) -> String {
    let toks = analyzer.analyze(text);
    if toks.is_empty() {
        return escape(&text.chars().take(200).collect::<String>());
    }
    let hit: Vec<bool> = toks.iter().map(|t| terms.contains(&t.term)).collect();
    let w = SNIPPET_WORDS.min(toks.len());
    // Sliding window: the start with the most hits (earliest on ties).
    let mut count: usize = hit[..w].iter().filter(|h| **h).count();
    let (mut best, mut best_start) = (count, 0);
    for s in 1..=toks.len() - w {
        count = count + usize::from(hit[s + w - 1]) - usize::from(hit[s - 1]);
        if count > best {
            best = count;
            best_start = s;
        }
    }
    let window = &toks[best_start..best_start + w];
    // At either end of the text, keep the surrounding punctuation instead of an ellipsis.
    let from = if best_start == 0 { 0 } else { window[0].start };
    let at_end = best_start + w == toks.len();
    let mut out = String::new();
    if best_start > 0 {
        out.push('…');
    }
    let mut pos = from;
    for (t, h) in window.iter().zip(&hit[best_start..]) {
        out.push_str(&escape(&text[pos..t.start]));
        if *h {
            out.push_str("<b>");
            out.push_str(&escape(&text[t.start..t.end]));
            out.push_str("</b>");
        } else {
            out.push_str(&escape(&text[t.start..t.end]));
        }
        pos = t.end;
    }
    if at_end {
        out.push_str(&escape(&text[pos..]));
    } else {
        out.push('…');
    }
    out
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_stemmed_matches_and_escapes() {
        let a = Analyzer::english();
        let terms: HashSet<String> = ["plug".to_string()].into();
        assert_eq!(
            snippet("Spark <plugs> fail.", &a, &terms),
            "Spark &lt;<b>plugs</b>&gt; fail."
        );
    }

    #[test]
    fn picks_the_densest_window() {
        let a = Analyzer::english();
        let mut text = "filler ".repeat(100);
        text.push_str("wing wing end");
        let terms: HashSet<String> = ["wing".to_string()].into();
        let s = snippet(&text, &a, &terms);
        assert!(s.starts_with('…'));
        assert!(s.contains("<b>wing</b> <b>wing</b>"), "{s}");
    }
}
