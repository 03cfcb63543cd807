//! Turns several `db_bench --json` result files (repeated runs of the same comparison) into a
//! Markdown table of medians with ratios, and an SVG bar chart of the medians.
//!
//! ```text
//! bench_report --svg docs/benchmarks.svg run1.json run2.json run3.json > table.md
//! ```
//!
//! Per workload: the median ops/s of each engine over the runs, kvstore ÷ RocksDB, the best
//! anchor (the fastest of the other engines) and kvstore ÷ that anchor.

use anyhow::{Context, Result};
use clap::Parser;
use kvstore_benches::plot::{bar_chart_svg, human};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "median table and SVG chart from db_bench --json files")]
struct Args {
    /// Result files of repeated runs.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write an SVG bar chart of the medians here.
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    // engine -> workload -> samples; engine -> metric -> samples.
    let mut ops: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut metrics: BTreeMap<String, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let mut engines: Vec<String> = Vec::new();
    let mut workloads: Vec<String> = Vec::new();
    let mut num = 0u64;
    for f in &args.files {
        let text = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("parse {}", f.display()))?;
        num = v["num"].as_u64().unwrap_or(num);
        for e in v["engines"].as_array().into_iter().flatten() {
            let name = e["engine"].as_str().unwrap_or("?").to_string();
            if !engines.contains(&name) {
                engines.push(name.clone());
            }
            for r in e["rows"].as_array().into_iter().flatten() {
                let w = r["name"].as_str().unwrap_or("?").to_string();
                if !workloads.contains(&w) {
                    workloads.push(w.clone());
                }
                if let Some(x) = r["ops_per_sec"].as_f64() {
                    ops.entry(name.clone())
                        .or_default()
                        .entry(w)
                        .or_default()
                        .push(x);
                }
            }
            for m in ["write_amplification", "space_amplification"] {
                if let Some(x) = e[m].as_f64() {
                    metrics
                        .entry(name.clone())
                        .or_default()
                        .entry(m)
                        .or_default()
                        .push(x);
                }
            }
        }
    }
    let med = |e: &str, w: &str| {
        ops.get(e)
            .and_then(|m| m.get(w))
            .and_then(|v| median(v.clone()))
    };

    println!(
        "Median of {} runs, {} keys, ops/s (higher is better).\n",
        args.files.len(),
        num
    );
    let mut header = String::from("| workload |");
    let mut rule = String::from("|---|");
    for e in &engines {
        header += &format!(" {e} |");
        rule += "---:|";
    }
    header += " kvstore ÷ rocksdb | best anchor | kvstore ÷ best |";
    rule += "---:|---|---:|";
    println!("{header}\n{rule}");
    for w in &workloads {
        let mut line = format!("| {w} |");
        for e in &engines {
            line += &format!(" {} |", med(e, w).map_or("-".into(), |x| format!("{x:.0}")));
        }
        let k = med("kvstore", w);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "-".into(),
        };
        line += &format!(" {} |", ratio(k, med("rocksdb", w)));
        let best = engines
            .iter()
            .filter(|e| e.as_str() != "kvstore")
            .filter_map(|e| med(e, w).map(|x| (e.clone(), x)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((e, x)) => line += &format!(" {e} ({}) | {} |", human(x), ratio(k, Some(x))),
            None => line += " - | - |",
        }
        println!("{line}");
    }
    for (m, label) in [
        (
            "write_amplification",
            "write amplification (lower is better)",
        ),
        (
            "space_amplification",
            "space amplification (lower is better)",
        ),
    ] {
        let mut line = format!("| {label} |");
        for e in &engines {
            let x = metrics
                .get(e)
                .and_then(|mm| mm.get(m))
                .and_then(|v| median(v.clone()));
            line += &format!(" {} |", x.map_or("-".into(), |x| format!("{x:.2}")));
        }
        line += " | | |";
        println!("{line}");
    }

    if let Some(p) = &args.svg {
        let series: Vec<(String, Vec<Option<f64>>)> = engines
            .iter()
            .map(|e| (e.clone(), workloads.iter().map(|w| med(e, w)).collect()))
            .collect();
        let title = format!(
            "db_bench, {} keys, median of {} runs (ops/s, log scale)",
            num,
            args.files.len()
        );
        std::fs::write(p, bar_chart_svg(&title, &workloads, &series))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
