//! What the page hands to the connection, through a bounded queue: a frame for the server, or
//! "close and reconnect". A full queue refuses the frame, and the page says it was not sent.

use futures_channel::mpsc;
use shared::Frame;

/// Frames the page may queue for sending: far more than a person types between two writes of
/// the socket, so a full queue means the connection is stuck, and waiting would not help.
pub const OUTGOING: usize = 64;

/// What the page sends to the connection.
#[derive(Debug)]
pub enum Out {
    /// A frame for the server.
    Frame(Box<Frame>),
    /// Close this connection (the user left); the next one opens at once.
    Reconnect,
}

impl Out {
    /// The frame it carries, if any.
    pub fn frame(&self) -> Option<&Frame> {
        match self {
            Out::Frame(frame) => Some(frame),
            Out::Reconnect => None,
        }
    }
}

/// The queue to the connection, and where the connection reads it.
pub fn queue() -> (mpsc::Sender<Out>, mpsc::Receiver<Out>) {
    mpsc::channel(OUTGOING)
}

/// Queues `out`, or hands it back when the queue is full (or the connection is gone). Always
/// through the page's one sender: each clone of a sender would add a slot of its own, and a
/// clone per frame would make the queue unbounded.
pub fn send(tx: &mut mpsc::Sender<Out>, out: Out) -> Result<(), Out> {
    tx.try_send(out).map_err(mpsc::TrySendError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Model;
    use client_core::chat::Entry;
    use shared::Message;

    fn message(i: usize) -> Out {
        Out::Frame(Box::new(Frame::messages(vec![Message::new("ann", "ALL", 1, format!("m{i}"))])))
    }

    #[test]
    fn a_full_queue_hands_the_frame_back_and_the_page_says_it_was_not_sent() {
        let (mut tx, _rx) = queue();
        let mut queued = 0;
        let refused = loop {
            match send(&mut tx, message(queued)) {
                Ok(()) => queued += 1,
                Err(out) => break out,
            }
            assert!(queued <= OUTGOING + 1, "the queue is bounded");
        };
        assert_eq!(queued, OUTGOING + 1, "the queue's slots and the sender's own");
        let mut m = Model::default();
        m.not_sent(refused.frame());
        assert!(matches!(&m.items().last().expect("entry").entry,
            Entry::Error(t) if t.starts_with("Not sent: too much is waiting to go out")));
        assert_eq!(m.draft, format!("m{queued}"), "the message is back in the composer");
        assert!(matches!(send(&mut tx, Out::Reconnect), Err(Out::Reconnect)), "still full");
    }
}
