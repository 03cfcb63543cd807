//! A BERT WordPiece tokenizer read from a Hugging Face `tokenizer.json`, written here so the
//! default embedder needs neither the `tokenizers` crate nor its ~70 dependencies.
//!
//! It implements exactly the pipeline potion-base-2M declares, and refuses any other:
//! - normalizer `BertNormalizer`: drop NUL, U+FFFD and control characters, map whitespace to a
//!   space, put spaces around CJK ideographs, strip accents (NFD, drop combining marks) when
//!   lowercasing unless `strip_accents` is false, lowercase;
//! - pre-tokenizer `BertPreTokenizer`: split on whitespace, and isolate each punctuation char
//!   (ASCII punctuation plus the Unicode punctuation blocks; an approximation of the `P*`
//!   categories that differs only for rare symbols);
//! - model `WordPiece`: greedy longest match with the `##` continuation prefix; a word longer
//!   than `max_input_chars_per_word` chars, or one that cannot be covered, is one `[UNK]`.

use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// A loaded WordPiece vocabulary and its normalisation settings.
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk_id: u32,
    prefix: String,
    max_chars: usize,
    lowercase: bool,
    strip_accents: bool,
    chinese_chars: bool,
    clean_text: bool,
}

fn bad(what: impl Into<String>) -> Error {
    Error::Embedder(format!("tokenizer.json: {}", what.into()))
}

impl WordPiece {
    /// Parses a `tokenizer.json` whose model is WordPiece with the BERT normalizer and
    /// pre-tokenizer.
    pub fn from_json(bytes: &[u8]) -> Result<WordPiece> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let model = &root["model"];
        if model["type"] != "WordPiece" {
            return Err(bad(format!(
                "model type {} is not WordPiece",
                model["type"]
            )));
        }
        let norm = &root["normalizer"];
        if norm["type"] != "BertNormalizer" {
            return Err(bad(format!(
                "normalizer {} is not BertNormalizer",
                norm["type"]
            )));
        }
        if root["pre_tokenizer"]["type"] != "BertPreTokenizer" {
            return Err(bad("pre_tokenizer is not BertPreTokenizer"));
        }
        let vocab_json = model["vocab"]
            .as_object()
            .ok_or_else(|| bad("model.vocab missing"))?;
        let mut vocab = HashMap::with_capacity(vocab_json.len());
        for (tok, id) in vocab_json {
            let id = id.as_u64().ok_or_else(|| bad(format!("id of {tok:?}")))?;
            vocab.insert(tok.clone(), id as u32);
        }
        let unk = model["unk_token"].as_str().unwrap_or("[UNK]");
        let unk_id = *vocab
            .get(unk)
            .ok_or_else(|| bad(format!("unk token {unk:?} not in vocab")))?;
        let lowercase = norm["lowercase"].as_bool().unwrap_or(true);
        Ok(WordPiece {
            vocab,
            unk_id,
            prefix: model["continuing_subword_prefix"]
                .as_str()
                .unwrap_or("##")
                .to_string(),
            max_chars: model["max_input_chars_per_word"].as_u64().unwrap_or(100) as usize,
            lowercase,
            // BERT: `strip_accents: null` follows `lowercase`.
            strip_accents: norm["strip_accents"].as_bool().unwrap_or(lowercase),
            chinese_chars: norm["handle_chinese_chars"].as_bool().unwrap_or(true),
            clean_text: norm["clean_text"].as_bool().unwrap_or(true),
        })
    }

    /// Id of the unknown-word token.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Number of entries in the vocabulary.
    pub fn vocab_len(&self) -> usize {
        self.vocab.len()
    }

    /// The token ids of `text` (no special tokens), `[UNK]` included, appended to `out`.
    pub fn tokenize(&self, text: &str, out: &mut Vec<u32>) {
        let normalized = self.normalize(text);
        let mut word = String::new();
        for c in normalized.chars() {
            if c.is_whitespace() {
                self.word_pieces(&word, out);
                word.clear();
            } else if is_punctuation(c) {
                self.word_pieces(&word, out);
                word.clear();
                let mut b = [0u8; 4];
                self.word_pieces(c.encode_utf8(&mut b), out);
            } else {
                word.push(c);
            }
        }
        self.word_pieces(&word, out);
    }

    fn normalize(&self, text: &str) -> String {
        let mut s = String::with_capacity(text.len());
        for c in text.chars() {
            if self.clean_text
                && (c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()))
            {
                continue;
            }
            if self.chinese_chars && is_cjk(c) {
                s.push(' ');
                s.push(c);
                s.push(' ');
            } else if self.clean_text && c.is_whitespace() {
                s.push(' ');
            } else {
                s.push(c);
            }
        }
        if self.strip_accents {
            s = s.nfd().filter(|c| !is_combining_mark(*c)).collect();
        }
        if self.lowercase {
            s = s.to_lowercase();
        }
        s
    }

    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > self.max_chars {
            out.push(self.unk_id);
            return;
        }
        let mark = out.len();
        let mut start = 0; // char index
        let mut candidate = String::new();
        while start < chars.len() {
            let from = chars[start].0;
            let mut end = chars.len();
            let mut found = None;
            while end > start {
                let to = chars.get(end).map_or(word.len(), |c| c.0);
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.prefix);
                }
                candidate.push_str(&word[from..to]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(mark);
                    out.push(self.unk_id);
                    return;
                }
            }
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32,
            0x00A1 | 0x00A7 | 0x00AB | 0x00B6 | 0x00B7 | 0x00BB | 0x00BF
            | 0x2010..=0x2027 | 0x2030..=0x205E | 0x3001..=0x3003 | 0x3008..=0x3011
            | 0x3014..=0x301F | 0xFE30..=0xFE4F | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20
            | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D | 0xFF5F..=0xFF65)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let json = r###"{
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                           "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 10,
                      "vocab": {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "cafe": 4, ",": 5, "a": 6, "中": 7}}
        }"###;
        WordPiece::from_json(json.as_bytes()).unwrap()
    }

    fn ids(t: &str) -> Vec<u32> {
        let mut v = Vec::new();
        tiny().tokenize(t, &mut v);
        v
    }

    #[test]
    fn greedy_longest_match_with_continuations() {
        assert_eq!(ids("unaffable"), [1, 2, 3]);
        assert_eq!(ids("UNAFFABLE, a"), [1, 2, 3, 5, 6]);
    }

    #[test]
    fn accents_stripped_cjk_split_unknown_whole_word() {
        assert_eq!(ids("Café"), [4]);
        assert_eq!(ids("a中a"), [6, 7, 6]);
        assert_eq!(ids("unzzz"), [0]);
        assert_eq!(ids("aaaaaaaaaaaa"), [0]);
    }

    #[test]
    fn rejects_other_pipelines() {
        let json = r#"{"model": {"type": "BPE"}, "normalizer": {"type": "BertNormalizer"}}"#;
        assert!(WordPiece::from_json(json.as_bytes()).is_err());
    }
}
