//! `kvstore`: the server (`kvstore serve`) and a command-line client for it
//! (`kvstore get|set|delete|bulk-set|scan|search|semantic-search|status`), plus
//! `kvstore backup|restore` (`docs/backup.md`) and `kvstore cluster ...` (`docs/operations.md`).
//! Thin: the server is `kvstore_server`, the client calls go through `kvstore_client`.

mod cli;

use clap::Parser;

/// mimalloc instead of glibc malloc: the write path allocates and frees many small buffers and
/// a few large ones per group (batches, WAL records), and glibc's fastbin consolidation showed
/// as ~15% of the server's CPU under durable writes.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
