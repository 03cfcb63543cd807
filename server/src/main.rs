//! `kvstore`: the server (`kvstore serve`) and a command-line client for it
//! (`kvstore get|set|delete|bulk-set|scan|search|semantic-search|status`).
//! Thin: the server is `kvstore_server`, the client calls go through `kvstore_client`.

mod cli;

use clap::Parser;

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
