//! `kvstore bulk-set`: JSON lines or CSV from a file or stdin, sent in atomic batches, with a
//! progress bar on stderr.

use super::Conn;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// From the file extension (.csv / .jsonl / .json), else from the first character.
    Auto,
    Jsonl,
    Csv,
}

#[derive(Args, Debug)]
pub struct BulkArgs {
    /// Input file; `-` or absent reads stdin.
    file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    format: Format,
    /// Pairs per request; each request is one atomic batch.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    #[command(flatten)]
    conn: Conn,
}

/// Parses one JSON line: `{"key","value"}` or `["k","v"]`; `None` for a blank line.
pub fn parse_json_line(line: &str) -> anyhow::Result<Option<(String, String)>> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(line).context("malformed JSON")?;
    let pair = match &v {
        Value::Object(o) => (o.get("key"), o.get("value")),
        Value::Array(a) if a.len() == 2 => (a.first(), a.get(1)),
        _ => bail!("expected {{\"key\": .., \"value\": ..}} or [key, value]"),
    };
    match pair {
        (Some(Value::String(k)), Some(Value::String(v))) => Ok(Some((k.clone(), v.clone()))),
        _ => bail!("key and value must both be JSON strings"),
    }
}

fn detect(format: Format, file: Option<&PathBuf>, first: &[u8]) -> Format {
    if format != Format::Auto {
        return format;
    }
    match file.and_then(|f| f.extension()).and_then(|e| e.to_str()) {
        Some("csv") => return Format::Csv,
        Some("jsonl") | Some("json") | Some("ndjson") => return Format::Jsonl,
        _ => {}
    }
    match first.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Format::Jsonl,
        _ => Format::Csv,
    }
}

pub fn run(args: BulkArgs) -> anyhow::Result<ExitCode> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let input: Box<dyn Read> = match &args.file {
        Some(p) if p.as_os_str() != "-" => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ),
        _ => Box::new(std::io::stdin()),
    };
    let mut reader = BufReader::new(input);
    let first = reader.fill_buf().context("cannot read input")?.to_vec();
    let format = detect(args.format, args.file.as_ref(), &first);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let client = args.conn.client()?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos} pairs written ({per_sec}) {elapsed}")
    {
        bar.set_style(style);
    }
    let mut written = 0usize;
    let mut batch: Vec<(String, String)> = Vec::with_capacity(args.batch_size);
    let mut send = |batch: &mut Vec<(String, String)>| -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        rt.block_on(client.bulk_set(batch))
            .with_context(|| format!("batch failed after {written} pairs were written"))?;
        written += batch.len();
        bar.inc(batch.len() as u64);
        batch.clear();
        Ok(())
    };

    match format {
        Format::Jsonl | Format::Auto => {
            for (i, line) in reader.lines().enumerate() {
                let line = line.context("cannot read input")?;
                if let Some(pair) =
                    parse_json_line(&line).with_context(|| format!("line {}", i + 1))?
                {
                    batch.push(pair);
                }
                if batch.len() >= args.batch_size {
                    send(&mut batch)?;
                }
            }
        }
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(reader);
            for (i, rec) in csv.records().enumerate() {
                let rec = rec.with_context(|| format!("CSV record {}", i + 1))?;
                if rec.len() != 2 {
                    bail!(
                        "CSV record {}: expected 2 fields (key,value), got {}",
                        i + 1,
                        rec.len()
                    );
                }
                if i == 0 && &rec[0] == "key" && &rec[1] == "value" {
                    continue; // header
                }
                batch.push((rec[0].to_string(), rec[1].to_string()));
                if batch.len() >= args.batch_size {
                    send(&mut batch)?;
                }
            }
        }
    }
    send(&mut batch)?;
    bar.finish_and_clear();
    if args.conn.json {
        println!("{}", serde_json::json!({ "ok": true, "count": written }));
    } else {
        println!("{written} pairs written");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_take_both_shapes() {
        assert_eq!(
            parse_json_line(r#"{"key":"a","value":"1"}"#).unwrap(),
            Some(("a".into(), "1".into()))
        );
        assert_eq!(
            parse_json_line(r#"["b","2"]"#).unwrap(),
            Some(("b".into(), "2".into()))
        );
        assert_eq!(parse_json_line("   ").unwrap(), None);
        assert!(parse_json_line(r#"["b",2]"#).is_err());
        assert!(parse_json_line("{").is_err());
    }

    #[test]
    fn format_detection() {
        assert_eq!(detect(Format::Auto, None, b" {\"key\""), Format::Jsonl);
        assert_eq!(detect(Format::Auto, None, b"a,b"), Format::Csv);
        let f = PathBuf::from("x.csv");
        assert_eq!(detect(Format::Auto, Some(&f), b"{"), Format::Csv);
        assert_eq!(detect(Format::Jsonl, Some(&f), b"a"), Format::Jsonl);
    }
}
