//! [`StaticEmbedder`]: a Model2Vec static embedding model (e.g. potion-base-2M).
//!
//! Embedding = mean of the embedding-table rows of the text's WordPiece tokens, with `[UNK]`
//! tokens removed and at most `max_tokens` tokens kept (Model2Vec's defaults: 512), then
//! L2-normalised when `config.json` says `"normalize": true`. A text with no known token embeds
//! to the zero vector.
//!
//! Model files: `tokenizer.json`, `model.safetensors` (one F32 tensor `embeddings`, shape
//! `[vocab, dim]`) and `config.json`. The default potion-base-2M files are compiled in
//! (`assets/potion-base-2M`, ~8 MB), so no file or network is needed at run time; a directory
//! given in `SearchOptions::model_dir` or the [`MODEL_DIR_ENV`] variable replaces them.

use super::{normalize, Embedder, WordPiece};
use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// Environment variable naming a model directory that replaces the compiled-in model.
pub const MODEL_DIR_ENV: &str = "KVSTORE_MODEL_DIR";
/// Tokens averaged per text, as Model2Vec's `encode(max_length=512)`.
pub const DEFAULT_MAX_TOKENS: usize = 512;

const POTION_TOKENIZER: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/potion-base-2M/tokenizer.json"
));
const POTION_WEIGHTS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/potion-base-2M/model.safetensors"
));
const POTION_CONFIG: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/potion-base-2M/config.json"
));

/// A static (lookup-and-average) embedding model.
#[derive(Debug)]
pub struct StaticEmbedder {
    tokenizer: WordPiece,
    /// Row-major `[rows, dim]`.
    table: Vec<f32>,
    dim: usize,
    normalize: bool,
    max_tokens: usize,
    name: String,
}

impl StaticEmbedder {
    /// potion-base-2M from the files compiled into this crate.
    pub fn potion_base_2m() -> Result<StaticEmbedder> {
        Self::from_bytes(
            "potion-base-2M",
            POTION_TOKENIZER,
            POTION_WEIGHTS,
            Some(POTION_CONFIG),
        )
    }

    /// A model from a directory holding `tokenizer.json`, `model.safetensors`, `config.json`.
    pub fn from_dir(dir: &Path) -> Result<StaticEmbedder> {
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .map_err(|e| Error::Embedder(format!("reading {}: {e}", dir.join(f).display())))
        };
        let config = read("config.json").ok();
        Self::from_bytes(
            &dir.display().to_string(),
            &read("tokenizer.json")?,
            &read("model.safetensors")?,
            config.as_deref(),
        )
    }

    /// A model from the contents of its files.
    pub fn from_bytes(
        name: &str,
        tokenizer_json: &[u8],
        safetensors: &[u8],
        config_json: Option<&[u8]>,
    ) -> Result<StaticEmbedder> {
        let tokenizer = WordPiece::from_json(tokenizer_json)?;
        let st = SafeTensors::deserialize(safetensors)
            .map_err(|e| Error::Embedder(format!("model.safetensors: {e}")))?;
        let t = st
            .tensor("embeddings")
            .map_err(|e| Error::Embedder(format!("model.safetensors: tensor `embeddings`: {e}")))?;
        if t.dtype() != Dtype::F32 || t.shape().len() != 2 {
            return Err(Error::Embedder(format!(
                "model.safetensors: `embeddings` is {:?} {:?}, expected a 2-d F32 table",
                t.dtype(),
                t.shape()
            )));
        }
        let (rows, dim) = (t.shape()[0], t.shape()[1]);
        if rows < tokenizer.vocab_len() || dim == 0 {
            return Err(Error::Embedder(format!(
                "model.safetensors: {rows} rows for a vocabulary of {}",
                tokenizer.vocab_len()
            )));
        }
        let table: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let normalize = match config_json {
            Some(c) => serde_json::from_slice::<serde_json::Value>(c)
                .map_err(|e| Error::Embedder(format!("config.json: {e}")))?["normalize"]
                .as_bool()
                .unwrap_or(true),
            None => true,
        };
        Ok(StaticEmbedder {
            tokenizer,
            table,
            dim,
            normalize,
            max_tokens: DEFAULT_MAX_TOKENS,
            name: name.to_string(),
        })
    }

    /// Changes how many tokens of a text are averaged (`usize::MAX`: all).
    pub fn with_max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = max_tokens.max(1);
        self
    }

    /// Where the model came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rows of the embedding table (one per vocabulary token, `dim` components each, as
    /// stored: not normalised). Real vectors for measuring the vector index.
    pub fn token_rows(&self) -> impl Iterator<Item = &[f32]> {
        self.table.chunks_exact(self.dim.max(1))
    }
}

impl Embedder for StaticEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut ids = Vec::new();
        self.tokenizer.tokenize(text, &mut ids);
        let unk = self.tokenizer.unk_id();
        let mut v = vec![0f32; self.dim];
        let mut n = 0usize;
        for id in ids.into_iter().filter(|&i| i != unk).take(self.max_tokens) {
            let row = id as usize * self.dim;
            if let Some(r) = self.table.get(row..row + self.dim) {
                v.iter_mut().zip(r).for_each(|(a, b)| *a += b);
                n += 1;
            }
        }
        if n > 0 {
            v.iter_mut().for_each(|x| *x /= n as f32);
            if self.normalize {
                normalize(&mut v);
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn potion_loads_and_embeds_related_text_closer() {
        let e = StaticEmbedder::potion_base_2m().unwrap();
        assert_eq!(e.dim(), 64);
        let a = e.embed("supersonic aircraft wing").unwrap();
        let b = e.embed("airplane flying faster than sound").unwrap();
        let c = e.embed("chocolate cake recipe").unwrap();
        assert!((cos(&a, &a) - 1.0).abs() < 1e-4);
        assert!(
            cos(&a, &b) > cos(&a, &c),
            "{} vs {}",
            cos(&a, &b),
            cos(&a, &c)
        );
        assert!(e.embed("").unwrap().iter().all(|x| *x == 0.0));
    }

    #[test]
    fn loads_from_a_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/potion-base-2M");
        let e = StaticEmbedder::from_dir(&dir).unwrap();
        let p = StaticEmbedder::potion_base_2m().unwrap();
        assert_eq!(e.embed("flow").unwrap(), p.embed("flow").unwrap());
        assert!(StaticEmbedder::from_dir(Path::new("/nonexistent")).is_err());
    }
}
