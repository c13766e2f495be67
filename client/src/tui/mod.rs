//! The full-screen terminal interface (ratatui + crossterm).
//!
//! [`app`] holds the state and what keys and engine events do to it; [`view`] draws it. The run
//! loop waits on the keyboard, the engine and signals at once, so output never blocks input
//! and input never blocks output, and redraws after each event (a resize included). The
//! terminal is restored on exit, on Ctrl-C, on SIGTERM and on panic.

pub mod app;
pub mod view;

use futures_util::StreamExt;

use crate::args::Args;
use crate::engine::{self, ToEngine};
use app::{Action, App};

/// Runs the TUI on a started engine; returns the process exit status.
pub async fn run(args: Args, engine: engine::Handle) -> u8 {
    let (to_engine, mut from_engine, engine) = engine;

    // Installs a panic hook that restores the terminal before the panic is reported.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            eprintln!("chatterbox: cannot use the terminal: {e} (try --plain)");
            return 1;
        }
    };
    let mut app = App::new(&args.server_label());
    let mut keys = crossterm::event::EventStream::new();
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();

    loop {
        if terminal.draw(|f| view::draw(f, &mut app)).is_err() {
            break;
        }
        #[cfg(unix)]
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        let action = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(crossterm::event::Event::Key(k))) => app.on_key(k),
                Some(Ok(_)) => None, // resize and the rest: redraw
                Some(Err(_)) | None => Some(Action::Quit),
            },
            ev = from_engine.recv() => match ev {
                Some(ev) => app.on_engine(ev),
                None => Some(Action::Quit),
            },
            () = terminated => Some(Action::Quit),
        };
        match action {
            None => {}
            Some(Action::Engine(cmd)) => {
                let _ = to_engine.send(cmd).await;
            }
            Some(Action::Quit) => break,
        }
    }
    ratatui::restore();
    let _ = to_engine.send(ToEngine::Quit).await;
    drop(to_engine);
    while from_engine.recv().await.is_some() {}
    let _ = engine.await;
    match app.fatal {
        Some(e) => {
            eprintln!("chatterbox: {e}");
            1
        }
        None => 0,
    }
}
