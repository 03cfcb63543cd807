//! `kvstore backup PATH` and `kvstore restore PATH --data-dir D` (see `docs/backup.md`).
//!
//! **backup** asks a running node for a checkpoint (`POST /admin/checkpoint`), downloads each
//! of its files into PATH (new or empty) as a stream, fsyncs each file and then PATH, checks the
//! copy with `verify_checkpoint` against the node's listing, writes that listing as
//! [`LISTING_FILE`] last, and removes the checkpoint from the node (whatever happened). A
//! directory holding `backup.json` is therefore a finished, verified backup.
//!
//! **restore** works offline. It checks PATH before touching D: `verify_checkpoint` (every
//! checksum), then the listing (same sequence number, same files, same sizes) — which also
//! catches a missing newest WAL segment, which `verify_checkpoint` alone would read as an older
//! state. D must be new or empty; it becomes the directory `kvstore serve --data-dir D` opens:
//! the data directory *is* the engine's directory (`Server::bind` opens the `Db` in it).
//!
//! # Crash safety of a restore
//! The engine opens a directory without `CURRENT` as a new, empty database (and then deletes
//! the tables and WAL segments it finds there as obsolete), so a half-restored D must never be
//! "files but no CURRENT". Every file is copied under a temporary name (which the engine
//! ignores), fsynced, then renamed; the order is `CURRENT` first, then tables and WAL segments,
//! then the manifest `CURRENT` names, with a directory fsync after each stage. Until the
//! manifest's name is durable, opening D fails ("CURRENT names MANIFEST-…, which does not
//! exist"); after it, D is whole. An interrupted restore leaves D non-empty, so the next
//! restore refuses until D is emptied. The copy is verified again in D before success.

use super::Conn;
use anyhow::{bail, Context};
use clap::Args;
use kvstore_client::{CheckpointFile, CheckpointInfo, Client};
use kvstore_engine::fs::StdFs;
use kvstore_engine::{verify_checkpoint, Checkpoint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// The listing a backup ends with, beside the engine's files (which the engine ignores).
pub const LISTING_FILE: &str = "backup.json";
/// The version of [`Listing`].
const LISTING_FORMAT: u32 = 1;
/// Suffix of a file being restored, before its rename (not a name the engine owns).
const RESTORE_TMP_SUFFIX: &str = ".restoring";
/// Buffer between the download stream and a file.
const DOWNLOAD_BUFFER_BYTES: usize = 1 << 20;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Directory to write the backup into; it must not exist or be empty.
    path: PathBuf,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A directory written by `kvstore backup`.
    path: PathBuf,
    /// The data directory to restore into (as given to `kvstore serve --data-dir`); it must
    /// not exist or be empty.
    #[arg(long)]
    data_dir: PathBuf,
    /// Print JSON (for scripts) instead of human-readable text.
    #[arg(long)]
    json: bool,
}

/// `backup.json`: what the node said the checkpoint holds. Format 1.
#[derive(Debug, Serialize, Deserialize)]
struct Listing {
    format: u32,
    /// Every write up to this sequence number, none after.
    seq: u64,
    /// Every file, in the order the node listed them (`CURRENT` last), with its size.
    files: Vec<CheckpointFile>,
    /// Informational: the node's URL and the checkpoint id it had there.
    source: String,
    checkpoint_id: String,
}

impl Listing {
    fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

pub fn run_backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(backup(args))
}

async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let client = args.conn.client()?;
    let path = args.path;
    let created = prepare_empty_dir(&path)?;
    let info = match client.checkpoint_create().await {
        Ok(info) => info,
        Err(e) => {
            undo_backup(&path, created, &[]);
            return Err(e).context("the node did not make a checkpoint");
        }
    };
    let outcome = download(&client, &info, &path).await;
    // The checkpoint pins space on the node: remove it whatever happened (it expires anyway).
    if let Err(e) = client.checkpoint_delete(&info.id).await {
        eprintln!(
            "warning: cannot remove checkpoint {} from the node ({e}); it expires there",
            info.id
        );
    }
    let listing = match outcome {
        Ok(listing) => listing,
        Err(e) => {
            let written: Vec<String> = info.files.iter().map(|f| f.name.clone()).collect();
            undo_backup(&path, created, &written);
            return Err(e.context(format!("backup into {} failed", path.display())));
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if args.conn.json {
        println!(
            "{}",
            serde_json::json!({ "path": path, "seq": listing.seq, "files": listing.files.len(),
                                "bytes": listing.bytes(), "seconds": secs })
        );
    } else {
        println!(
            "backup of seq {}: {} files, {} bytes in {} ({secs:.1} s)",
            listing.seq,
            listing.files.len(),
            listing.bytes(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads, syncs and verifies every file of `info` into `path`, then writes the listing.
async fn download(client: &Client, info: &CheckpointInfo, path: &Path) -> anyhow::Result<Listing> {
    let mut files = info.files.clone();
    for f in &files {
        check_name(&f.name)?;
    }
    // CURRENT last (as the node lists it): a directory without it is visibly unfinished.
    files.sort_by_key(|f| f.name == "CURRENT");
    for f in &files {
        let p = path.join(&f.name);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&p)
            .with_context(|| format!("cannot create {}", p.display()))?;
        let mut w = BufWriter::with_capacity(DOWNLOAD_BUFFER_BYTES, file);
        let got = client
            .checkpoint_download(&info.id, &f.name, &mut w)
            .await
            .with_context(|| format!("downloading {}", f.name))?;
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", p.display()))?;
        // IMPORTANT: each file durable before the listing can claim the backup is finished.
        file.sync_all()
            .with_context(|| format!("cannot fsync {}", p.display()))?;
        if got != f.size {
            bail!(
                "downloaded {got} bytes of {}, the node listed {}",
                f.name,
                f.size
            );
        }
    }
    // IMPORTANT: the names durable before the listing is written.
    sync_dir(path)?;
    let listing = Listing {
        format: LISTING_FORMAT,
        seq: info.seq,
        files,
        source: client.base_url().to_string(),
        checkpoint_id: info.id.clone(),
    };
    let verified = verify(path).await?;
    check_listing(path, &verified, &listing)?;
    let tmp = path.join(format!("{LISTING_FILE}.tmp"));
    let mut out = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    out.write_all(&serde_json::to_vec_pretty(&listing)?)
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    // IMPORTANT: the listing appears whole, and is durable, only once everything is verified.
    std::fs::rename(&tmp, path.join(LISTING_FILE))
        .with_context(|| format!("cannot rename {}", tmp.display()))?;
    sync_dir(path)?;
    Ok(listing)
}

/// Removes what a failed backup wrote (so PATH is never mistaken for a backup).
fn undo_backup(path: &Path, created: bool, names: &[String]) {
    for name in names
        .iter()
        .map(String::as_str)
        .chain([LISTING_FILE, "backup.json.tmp"])
    {
        if check_name(name).is_ok() {
            let _ = std::fs::remove_file(path.join(name));
        }
    }
    if created {
        let _ = std::fs::remove_dir(path);
    }
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (path, dir) = (&args.path, &args.data_dir);
    // 1. The backup, checked whole before D is touched.
    let listing = read_listing(path)?;
    let verified = verify_checkpoint(&StdFs, path)
        .with_context(|| format!("{} is damaged; nothing was restored", path.display()))?;
    check_listing(path, &verified, &listing)
        .with_context(|| format!("{} is damaged; nothing was restored", path.display()))?;
    // 2. D, new or empty.
    let created = prepare_empty_dir(dir)?;
    let mut written = Vec::new();
    if let Err(e) = copy_into(path, dir, &listing, &mut written) {
        undo_restore(dir, created, &written);
        return Err(e.context(format!(
            "restore into {} failed; it was emptied again",
            dir.display()
        )));
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "data_dir": dir, "seq": listing.seq, "files": listing.files.len(),
                                "bytes": listing.bytes(), "seconds": secs })
        );
    } else {
        println!(
            "restored seq {}: {} files, {} bytes into {} ({secs:.1} s); start it with: \
             kvstore serve --data-dir {}",
            listing.seq,
            listing.files.len(),
            listing.bytes(),
            dir.display(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies the files of `listing` from `from` into `dir` in the crash-safe order of the module
/// doc, then verifies `dir`. `written` collects every name created in `dir`, in order.
fn copy_into(
    from: &Path,
    dir: &Path,
    listing: &Listing,
    written: &mut Vec<String>,
) -> anyhow::Result<()> {
    let is_manifest = |n: &str| n.starts_with("MANIFEST-");
    let current: Vec<&str> = vec!["CURRENT"];
    let data: Vec<&str> = listing
        .files
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| *n != "CURRENT" && !is_manifest(n))
        .collect();
    let manifests: Vec<&str> = listing
        .files
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| is_manifest(n))
        .collect();
    // IMPORTANT: stage by stage, each stage's names durable (directory fsync) before the next
    // begins: CURRENT (D now refuses to open), tables and WAL, then the manifest (D is whole).
    for stage in [current, data, manifests] {
        for name in stage {
            let tmp_name = format!("{name}{RESTORE_TMP_SUFFIX}");
            let tmp = dir.join(&tmp_name);
            written.push(tmp_name);
            std::fs::copy(from.join(name), &tmp)
                .with_context(|| format!("cannot copy {} to {}", name, tmp.display()))?;
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot fsync {}", tmp.display()))?;
            written.push(name.to_string());
            std::fs::rename(&tmp, dir.join(name))
                .with_context(|| format!("cannot rename {}", tmp.display()))?;
        }
        sync_dir(dir)?;
    }
    let verified = verify_checkpoint(&StdFs, dir)
        .with_context(|| format!("the copy in {} does not verify", dir.display()))?;
    check_listing(dir, &verified, listing)
        .with_context(|| format!("the copy in {} does not match the backup", dir.display()))
}

/// Removes what a failed restore wrote: the manifest first and `CURRENT` last, so that at no
/// point D holds files without `CURRENT` naming a missing manifest (see the module doc).
fn undo_restore(dir: &Path, created: bool, written: &[String]) {
    let mut names: Vec<&String> = written.iter().collect();
    names.sort_by_key(|n| {
        if n.starts_with("MANIFEST-") {
            0
        } else if n.starts_with("CURRENT") {
            2
        } else {
            1
        }
    });
    for name in names {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = sync_dir(dir);
    if created {
        let _ = std::fs::remove_dir(dir);
    }
}

fn read_listing(path: &Path) -> anyhow::Result<Listing> {
    let p = path.join(LISTING_FILE);
    let text = match std::fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !path.is_dir() {
                bail!("{} is not a directory", path.display());
            }
            bail!(
                "{} is missing: {} is not a finished `kvstore backup` (the listing is written last)",
                p.display(),
                path.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let listing: Listing = serde_json::from_slice(&text)
        .with_context(|| format!("{} is damaged (not a backup listing)", p.display()))?;
    if listing.format != LISTING_FORMAT {
        bail!(
            "{} has format {}; this kvstore reads format {LISTING_FORMAT}",
            p.display(),
            listing.format
        );
    }
    for f in &listing.files {
        check_name(&f.name).with_context(|| format!("{} is damaged", p.display()))?;
    }
    Ok(listing)
}

/// Checks a verified checkpoint in `dir` against the listing: the same sequence number, the
/// same files, each of the listed size.
fn check_listing(dir: &Path, verified: &Checkpoint, listing: &Listing) -> anyhow::Result<()> {
    let listed: BTreeSet<&str> = listing.files.iter().map(|f| f.name.as_str()).collect();
    let found: BTreeSet<&str> = verified.files.iter().map(String::as_str).collect();
    if let Some(missing) = listed.difference(&found).next() {
        let why = if dir.join(missing).exists() {
            "is not used by the manifest"
        } else {
            "is missing"
        };
        bail!("{} {why}", dir.join(missing).display());
    }
    if let Some(extra) = found.difference(&listed).next() {
        bail!("{} is not in the backup listing", dir.join(extra).display());
    }
    // Sizes before seq: a WAL segment cut at a record boundary verifies as an older state, and
    // its size names the file where the seq could not.
    for f in &listing.files {
        let p = dir.join(&f.name);
        let size = std::fs::metadata(&p)
            .with_context(|| format!("cannot stat {}", p.display()))?
            .len();
        if size != f.size {
            bail!(
                "{} has {size} bytes, the backup listing says {}",
                p.display(),
                f.size
            );
        }
    }
    if verified.seq != listing.seq {
        bail!(
            "{} holds writes up to seq {}, the backup listing says {}",
            dir.display(),
            verified.seq,
            listing.seq
        );
    }
    Ok(())
}

async fn verify(dir: &Path) -> anyhow::Result<Checkpoint> {
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || verify_checkpoint(&StdFs, &d))
        .await
        .context("verify task failed")?
        .with_context(|| format!("the downloaded copy in {} does not verify", dir.display()))
}

/// Makes `dir` an empty directory: creates it (true) or checks it is empty (false).
fn prepare_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if let Some(entry) = entries.next() {
                let name = entry
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .unwrap_or_default();
                bail!(
                    "refusing to write into {}: it is not empty (it holds {name:?}); \
                     give a new or empty directory",
                    dir.display()
                );
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            // IMPORTANT: the new directory's own name durable in its parent.
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            sync_dir(parent)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("{} exists and is not a directory", dir.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot fsync directory {}", dir.display()))
}

/// A file name from a node or a listing is written under PATH or D: one plain component only.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        bail!("{name:?} is not a checkpoint file name");
    }
    Ok(())
}
