//! The loop that serves one connection: it reads frames, writes what the hub queued, waits for
//! the hub, and keeps the connection's one timer, all at once. What each event means is the
//! state machine's business ([`super::machine`]); this file only moves bytes and time.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;

use bytes::BytesMut;
use shared::Frame;
use shared::codec::FrameError;
use tokio::time::{Instant, Sleep};

use super::login::LoginFailed;
use super::machine::{Session, Step, Wait, WaitFuture};
use super::{Context, SHUTTING_DOWN};
use crate::config::{GOODBYE_TIMEOUT, OUTBOX_BATCH, OUTBOX_CAPACITY, WRITE_TIMEOUT};
use crate::hub::{Command, TOO_SLOW};
use crate::outbox::{self, Out};
use crate::transport::Transport;

/// Whether the loop goes on; `Break` ends the connection, with the ERROR to say goodbye with
/// (none when the connection is gone already).
type Flow = ControlFlow<Option<String>>;

/// Serves one connection from `ip` until it closes, the hub drops it, or the server stops.
///
/// A plain function returning an `async move` block rather than an `async fn`: an async fn
/// keeps its arguments twice in its state (the argument and the moved-in local), and the
/// transport with its TLS state is 1.3 KB of every connection's memory. For the same reason
/// the loop borrows the transport rather than taking it.
#[allow(clippy::manual_async_fn, reason = "an async fn would hold the transport twice")]
pub fn serve<T: Transport>(
    t: T,
    ctx: Arc<Context>,
    ip: std::net::IpAddr,
) -> impl Future<Output = ()> + Send {
    serve_as(t, ctx, ip, crate::hub::ConnId::next(), None)
}

/// [`serve`] as the connection `conn`, whose page fetches its files under `files_url` (a
/// WebSocket's: told after the login when `files` is granted).
#[allow(clippy::manual_async_fn, reason = "an async fn would hold the transport twice")]
pub fn serve_as<T: Transport>(
    mut t: T,
    ctx: Arc<Context>,
    ip: std::net::IpAddr,
    conn: crate::hub::ConnId,
    files_url: Option<String>,
) -> impl Future<Output = ()> + Send {
    async move {
        // One timer for the connection (each one costs every connection 112 bytes): until the
        // login, the login deadline; then a check every half frame timeout: a frame still
        // incomplete at two checks in a row, or no frame for the idle timeout, ends it.
        let timer = tokio::time::sleep(ctx.login_timeout);
        tokio::pin!(timer);
        let (outbox, inbox) = outbox::channel(OUTBOX_CAPACITY);
        let session = Session::new(ctx, ip, outbox, T::COMPRESSES, conn, files_url);
        let mut conn = Connection {
            t: &mut t,
            session,
            inbox,
            timer,
            last_frame: Instant::now(),
            was_partial: false,
            wait: None,
            hold_outbox: false,
            items: Vec::new(),
        };
        let goodbye = conn.run().await;
        conn.close(goodbye).await;
    }
}

/// One connection being served.
struct Connection<'a, T> {
    /// The transport, borrowed from [`serve`]'s state (see there).
    t: &'a mut T,
    /// The protocol state, which decides what each event means.
    session: Session,
    /// What the hub queued for this connection (read once logged in).
    inbox: outbox::Receiver,
    /// The connection's one timer (see [`serve`]).
    timer: Pin<&'a mut Sleep>,
    /// The last traffic in either direction (for the idle timeout).
    last_frame: Instant,
    /// A frame was incomplete at the last check.
    was_partial: bool,
    /// What the session waits for before it reads further frames: a login, room in the hub's
    /// queue, a read from the store.
    wait: Option<WaitFuture>,
    /// The outbox is not read while the wait answers a `JOIN` (see `Step::hold_outbox`).
    hold_outbox: bool,
    /// What the outbox gave at the last wake-up. It and the write buffer grow with a burst
    /// (up to OUTBOX_BATCH items, 64 KiB of frame) and are given back after each wake-up:
    /// the heap profile of idle connections showed even small kept buffers (about 1 KB
    /// each), while allocating them again costs far less than the write they come with.
    items: Vec<Out>,
}

impl<T: Transport> Connection<'_, T> {
    /// Serves until the connection ends; returns the ERROR to say goodbye with, if any.
    async fn run(&mut self) -> Option<String> {
        loop {
            let logged_in = self.session.logged_in();
            let flow = tokio::select! {
                biased;
                () = self.session.ctx.shutdown.cancelled() => Flow::Break(Some(SHUTTING_DOWN.to_owned())),
                () = self.session.kick.cancelled() => Flow::Break(Some(
                    self.session.goodbye.get().map_or_else(|| TOO_SLOW.to_owned(), |g| g.text.clone()),
                )),
                done = waiting(&mut self.wait), if self.wait.is_some() => self.on_wait(done).await,
                _ = self.inbox.recv_many(&mut self.items, OUTBOX_BATCH), if logged_in && !self.hold_outbox => {
                    self.write_outbox().await
                }
                () = self.timer.as_mut(), if logged_in || self.wait.is_none() => self.on_timer(),
                frame = self.t.recv(), if self.wait.is_none() => self.on_recv(frame).await,
            };
            if let ControlFlow::Break(goodbye) = flow {
                return goodbye;
            }
        }
    }

    /// What the session waited for is done.
    async fn on_wait(&mut self, done: Wait) -> Flow {
        self.wait = None;
        self.hold_outbox = false;
        let mut step = Step::default();
        match done {
            Wait::Queued => {}
            Wait::Reply(json) => step.replies.push(json),
            Wait::Replies(json) => step.replies.extend(json),
            Wait::Files(json, uploads) => {
                self.session.uploads_back(uploads);
                step.replies.extend(json);
            }
            Wait::Login(Ok(reply)) => {
                if reply.granted.compress {
                    // The client asked, so it reads compressed frames from the answer on.
                    self.t.compress();
                }
                self.send(&reply.frame).await?;
                if reply.granted.files
                    && let Some(url) = self.session.files_url.clone()
                {
                    let frame = Frame { files_url: Some(url), ..Frame::default() };
                    self.send(&shared::encode(&frame)).await?;
                }
                tracing::debug!(user = %reply.name, "logged in");
                self.check_again();
                step = self.session.logged_in_as(
                    reply.name,
                    reply.key,
                    reply.granted,
                    reply.then_send,
                );
            }
            Wait::Login(Err(LoginFailed::Refused { info, then_send })) => {
                step.refuse_login(info, then_send);
                self.timer.as_mut().reset(Instant::now() + self.session.ctx.login_timeout);
            }
            Wait::Login(Err(LoginFailed::Unavailable(why))) => return Flow::Break(Some(why)),
        }
        self.flush(step).await
    }

    /// Writes what the outbox gave, merged into as few frames as it allows.
    async fn write_outbox(&mut self) -> Flow {
        let items = std::mem::take(&mut self.items);
        let mut buf = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let (frame, next) = outbox::next_frame(&items, i, &mut buf);
            self.send(frame).await?;
            i = next;
        }
        // Traffic either way keeps a connection from counting as idle: a reader in a busy
        // room is not idle.
        self.last_frame = Instant::now();
        Flow::Continue(())
    }

    /// The timer fired: the login deadline passed, or it is time to check the connection.
    fn on_timer(&mut self) -> Flow {
        if !self.session.logged_in() {
            return Flow::Break(Some(
                "No login within the time allowed; closing the connection.".to_owned(),
            ));
        }
        let partial = self.t.partial();
        if partial && self.was_partial {
            return Flow::Break(Some(
                "A frame stayed incomplete for too long; closing the connection.".to_owned(),
            ));
        }
        self.was_partial = partial;
        let idle = self.session.ctx.idle_timeout;
        if !idle.is_zero() && self.last_frame.elapsed() >= idle {
            return Flow::Break(Some(format!(
                "Closing the connection after {} minutes without a message.",
                idle.as_secs() / 60
            )));
        }
        self.check_again();
        Flow::Continue(())
    }

    /// A frame arrived, or the connection ended.
    async fn on_recv(&mut self, frame: Option<Result<BytesMut, FrameError>>) -> Flow {
        let step = match frame {
            None | Some(Err(FrameError::Io(_))) => return Flow::Break(None),
            Some(Err(e @ (FrameError::TooLong { .. } | FrameError::Compressed(_)))) => {
                return Flow::Break(Some(e.to_string()));
            }
            Some(Ok(payload)) => {
                self.last_frame = Instant::now();
                self.was_partial = false;
                self.session.on_frame(&payload)
            }
        };
        self.flush(step).await
    }

    /// Sends a step's replies, then waits for what it waits for.
    async fn flush(&mut self, step: Step) -> Flow {
        for json in step.replies {
            self.send(&json).await?;
        }
        if step.wait.is_some() {
            self.wait = step.wait;
            self.hold_outbox = step.hold_outbox;
        }
        Flow::Continue(())
    }

    /// Writes one frame, giving up when the peer stops reading for [`WRITE_TIMEOUT`] or the
    /// hub disconnects it.
    async fn send(&mut self, json: &[u8]) -> Flow {
        tokio::select! {
            r = tokio::time::timeout(WRITE_TIMEOUT, self.t.send(json)) => match r {
                Ok(Ok(())) => Flow::Continue(()),
                _ => Flow::Break(None),
            },
            () = self.session.kick.cancelled() => Flow::Break(None),
        }
    }

    /// Sets the timer to the next check of a logged-in connection.
    fn check_again(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.session.ctx.frame_timeout / 2);
    }

    /// Says goodbye (if there is something to say), closes the connection and tells the hub.
    async fn close(&mut self, goodbye: Option<String>) {
        if let Some(text) = goodbye {
            let disconnected = self.session.ended().map(str::to_owned);
            let frame = shared::encode(&Frame { disconnected, ..Frame::error(text) });
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, self.t.send(&frame)).await;
        }
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, self.t.close()).await;
        // Every connection says goodbye to the hub, logged in or not: a login still in flight
        // would otherwise leave a ghost user behind.
        let logout = Command::Logout { conn: self.session.conn };
        if self.session.ctx.shutdown.is_cancelled() {
            let _ = self.session.ctx.hub.try_send(logout);
        } else {
            let _ = self.session.ctx.hub.send(logout).await;
        }
    }
}

/// The future the session waits for (the caller checks there is one).
async fn waiting(wait: &mut Option<WaitFuture>) -> Wait {
    match wait {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
