//! `chatterbox`: the terminal client. Parses arguments and starts the TUI or plain mode.

use std::io::IsTerminal;
use std::process::ExitCode;

use chatterbox_client::args::{Args, normalize};
use chatterbox_client::{engine, plain, tui};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    let args = Args::parse_from(normalize(std::env::args_os()));
    // A malformed list of servers is a usage error, reported (and exited on) as clap does.
    let servers = match args.servers() {
        Ok(list) => list,
        Err(e) => Args::command().error(ErrorKind::ValueValidation, e).exit(),
    };
    let plain = args.plain || !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("chatterbox: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
    let status = runtime.block_on(async {
        // Started here for both modes; it fails only if the CA file cannot be used.
        let engine = match engine::start(&args, servers) {
            Ok(handle) => handle,
            Err(e) => {
                eprintln!("chatterbox: {e}");
                return 1;
            }
        };
        if plain { plain::run(args, engine).await } else { tui::run(args, engine).await }
    });
    // A password still being read from the terminal (plain mode) blocks a thread that nothing
    // can interrupt; the program leaves without waiting for it.
    runtime.shutdown_background();
    ExitCode::from(status)
}
