//! A protocol client over TLS and the frame helpers tests read with.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use shared::codec::{FrameError, JsonCodec};
use shared::limits::MAX_SERVER_FRAME_LEN;
use shared::{DecodeError, Frame, Message};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Framed;

use crate::{PATIENCE, now, tls};

/// A protocol client: frames in, frames out.
#[derive(Debug)]
pub struct Client {
    /// The framed TLS connection; tests reach under it to send bytes of their own choosing.
    pub io: Framed<TlsStream<TcpStream>, JsonCodec>,
    /// The name it is logged in under (empty before a login is accepted).
    pub name: String,
    /// Live messages already read (in a frame with others) but not yet asked for.
    pending: VecDeque<Message>,
}

/// What [`Client::next_within`] saw.
#[derive(Debug)]
pub enum Next {
    Frame(Box<Frame>),
    Closed,
    Timeout,
}

impl Client {
    pub async fn connect(addr: SocketAddr, ca: &Path) -> Client {
        Client::over(tls::tls_connect(addr, ca).await)
    }

    /// A client on a TLS connection made by the test.
    pub fn over(stream: TlsStream<TcpStream>) -> Client {
        Client {
            io: Framed::new(stream, JsonCodec::new(MAX_SERVER_FRAME_LEN)),
            name: String::new(),
            pending: VecDeque::new(),
        }
    }

    pub async fn send(&mut self, frame: &Frame) {
        self.io.send(frame).await.expect("send frame");
    }

    /// Sends raw bytes as they are (a prefix and body of the test's choosing).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.io.get_mut();
        s.write_all(bytes).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// Sends one frame whose payload is `json`.
    pub async fn send_json(&mut self, json: &[u8]) {
        let mut raw = (json.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(json);
        self.send_raw(&raw).await;
    }

    /// Connects to `addr` and logs in as `name` asking for `features`; panics unless the login
    /// is accepted. Returns the client and the login answer.
    pub async fn logged_in(
        addr: SocketAddr,
        ca: &Path,
        name: &str,
        features: Option<&[&str]>,
    ) -> (Client, Frame) {
        let mut c = Client::connect(addr, ca).await;
        let r = c.login_with(name, features).await;
        assert_eq!(r.username_accepted, Some(true), "{name}: {:?}", r.info);
        (c, r)
    }

    /// Logs in with `login` (a frame with USERNAME) once the name is free: a user who just
    /// dropped their connection is still "in use" until the server has seen it close, so this
    /// asks again while that is the answer, for at most [`PATIENCE`]. Panics unless accepted.
    pub async fn logged_in_once_free(
        addr: SocketAddr,
        ca: &Path,
        login: &Frame,
    ) -> (Client, Frame) {
        let name = login.username.clone().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut c = Client::connect(addr, ca).await;
            if login.features.as_ref().is_some_and(|f| f.iter().any(|f| f == "compress")) {
                c.io.codec_mut().compress(true);
            }
            c.send(login).await;
            let r = c.recv_where(|f| f.username_accepted.is_some()).await;
            let info = r.info.clone().unwrap_or_default();
            if r.username_accepted == Some(true) {
                c.name = name;
                return (c, r);
            }
            assert!(
                info.contains("already in use") && tokio::time::Instant::now() < deadline,
                "{name}: {info}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Client::logged_in`] for a name whose previous connection was just dropped.
    pub async fn logged_in_again(
        addr: SocketAddr,
        ca: &Path,
        name: &str,
        features: Option<&[&str]>,
    ) -> (Client, Frame) {
        let features = features.map(|f| f.iter().map(|s| (*s).to_owned()).collect());
        let login = Frame { username: Some(name.into()), features, ..Frame::default() };
        Client::logged_in_once_free(addr, ca, &login).await
    }

    /// Asks to log in as `name`; returns the answer (accepted or not).
    pub async fn login(&mut self, name: &str) -> Frame {
        self.login_with(name, None).await
    }

    /// Logs in asking for extensions (with `compress`, frames are compressed both ways from
    /// the answer on; the login itself is too short to be).
    pub async fn login_with(&mut self, name: &str, features: Option<&[&str]>) -> Frame {
        if features.is_some_and(|f| f.contains(&"compress")) {
            self.io.codec_mut().compress(true);
        }
        let features = features.map(|f| f.iter().map(|s| (*s).to_owned()).collect());
        self.send(&Frame { username: Some(name.into()), features, ..Frame::default() }).await;
        let r = self.recv_where(|f| f.username_accepted.is_some()).await;
        if r.username_accepted == Some(true) {
            self.name = name.to_owned();
        }
        r
    }

    /// Sends `n` numbered lines to everyone ("message 0 of the history", …) and returns
    /// them: a history for a later login to replay.
    pub async fn say_history(&mut self, n: usize) -> Vec<Message> {
        let mut sent = Vec::with_capacity(n);
        for i in 0..n {
            sent.push(self.say("ALL", &format!("message {i} of the history")).await);
        }
        sent
    }

    /// Sends one message from this user; returns it.
    pub async fn say(&mut self, dest: &str, content: &str) -> Message {
        let m = Message::new(self.name.clone(), dest, now(), content);
        self.send(&Frame::messages(vec![m.clone()])).await;
        m
    }

    /// The next frame, the end of the connection, or nothing within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Next {
        match tokio::time::timeout(wait, self.io.next()).await {
            Err(_) => Next::Timeout,
            Ok(None) | Ok(Some(Err(FrameError::Io(_)))) => Next::Closed,
            Ok(Some(Err(e))) => panic!("{}: bad framing from the server: {e}", self.name),
            Ok(Some(Ok(Err(e @ DecodeError::Syntax(_) | e @ DecodeError::Shape(_))))) => {
                panic!("{}: server sent a non-protocol frame: {e}", self.name)
            }
            Ok(Some(Ok(Ok(f)))) => Next::Frame(Box::new(f)),
        }
    }

    /// The next frame; panics unless one arrives within [`PATIENCE`].
    pub async fn recv(&mut self) -> Frame {
        match self.next_within(PATIENCE).await {
            Next::Frame(f) => *f,
            other => panic!("{}: expected a frame, got {other:?}", self.name),
        }
    }

    /// Skips frames until one matches.
    pub async fn recv_where(&mut self, pred: impl Fn(&Frame) -> bool) -> Frame {
        loop {
            let f = self.recv().await;
            if pred(&f) {
                return f;
            }
        }
    }

    /// The text of the next ERROR, skipping other frames.
    pub async fn recv_error(&mut self) -> String {
        self.recv_where(|f| f.error.is_some()).await.error.expect("error")
    }

    /// The next live message (not join history), in arrival order.
    pub async fn next_message(&mut self) -> Message {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return m;
            }
            let f = self.recv().await;
            // A login's or a JOIN's MESSAGES are history, not live.
            if f.username_accepted.is_none() && f.joined.is_none() {
                self.pending.extend(f.messages.into_iter().flatten());
            }
        }
    }

    /// Live messages already read but not yet asked for.
    pub fn take_pending(&mut self) -> Vec<Message> {
        self.pending.drain(..).collect()
    }

    /// Waits for a live message whose content is `content`, skipping others.
    pub async fn recv_message(&mut self, content: &str) -> Message {
        loop {
            let m = self.next_message().await;
            if m.content == content {
                return m;
            }
        }
    }

    /// The next `n` live messages, whichever frames they come in.
    pub async fn recv_messages(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_message().await);
        }
        out
    }

    /// Reads until the live message `probe` arrives; returns everything read before it (live
    /// messages read earlier but not yet asked for first, as one frame). Messages after the
    /// probe in its frame are kept for later.
    ///
    /// This is how a test shows that something did not arrive: it sends the probe after the
    /// thing in question, from where the server orders it after that thing, and whatever the
    /// server would have sent is then among the frames before the probe. A fixed quiet period
    /// would pass vacuously on a slow machine; a probe cannot.
    pub async fn until_probe(&mut self, probe: &str) -> Vec<Frame> {
        let mut before = Vec::new();
        let mut read = Frame::messages(self.pending.drain(..).collect());
        loop {
            if let Some(after) = cut_at_probe(&mut read, probe) {
                self.pending.extend(after);
                before.push(read);
                return before;
            }
            if read != Frame::messages(Vec::new()) {
                before.push(read);
            }
            read = self.recv().await;
        }
    }

    /// Reads until the live message `probe` arrives and panics if a frame before it matches
    /// `unwanted` (described by `what`); returns the frames before the probe. See
    /// [`Client::until_probe`] for why this proves absence.
    pub async fn expect_none_before_probe(
        &mut self,
        probe: &str,
        what: &str,
        unwanted: impl Fn(&Frame) -> bool,
    ) -> Vec<Frame> {
        let before = self.until_probe(probe).await;
        if let Some(f) = before.iter().find(|f| unwanted(f)) {
            panic!("{}: {what} arrived before the probe {probe:?}: {f:?}", self.name);
        }
        before
    }

    /// Reads until the server closes the connection; panics if it does not within `wait`.
    pub async fn expect_closed(&mut self, wait: Duration) -> Vec<Frame> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self
                .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await
            {
                Next::Frame(f) => out.push(*f),
                Next::Closed => return out,
                Next::Timeout => panic!("{}: connection still open; got {out:?}", self.name),
            }
        }
    }
}

/// If `frame` carries the live message `probe`, cuts it there: `frame` keeps the messages
/// before the probe, and those after it are returned. Login and room history is not live.
fn cut_at_probe(frame: &mut Frame, probe: &str) -> Option<Vec<Message>> {
    if frame.username_accepted.is_some() || frame.joined.is_some() {
        return None;
    }
    let messages = frame.messages.as_mut()?;
    let at = messages.iter().position(|m| m.content == probe)?;
    Some(messages.drain(at..).skip(1).collect())
}

/// Contents of all messages in `frames`.
pub fn contents(frames: &[Frame]) -> Vec<String> {
    frames.iter().flat_map(|f| f.messages.iter().flatten().map(|m| m.content.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(contents: &[&str]) -> Frame {
        Frame::messages(contents.iter().map(|c| Message::new("ann", "ALL", 1, *c)).collect())
    }

    #[test]
    fn a_frame_is_cut_at_the_probe_and_join_history_is_not() {
        let mut f = frame(&["a", "probe", "b", "probe"]);
        let after = cut_at_probe(&mut f, "probe").expect("the probe");
        assert_eq!(contents(&[f]), ["a"]);
        assert_eq!(contents(&[Frame::messages(after)]), ["b", "probe"]);
        let mut f = frame(&["a", "b"]);
        assert_eq!(cut_at_probe(&mut f, "probe"), None);
        assert_eq!(f, frame(&["a", "b"]));
        let mut history = Frame { username_accepted: Some(true), ..frame(&["probe"]) };
        assert_eq!(cut_at_probe(&mut history, "probe"), None);
        assert_eq!(cut_at_probe(&mut Frame::default(), "probe"), None);
    }
}
