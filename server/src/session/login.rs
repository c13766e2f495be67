//! The login answer: the hub's decision, the join history once it is committed, and the frame
//! that carries both.

use std::sync::Arc;

use shared::limits::MAX_SERVER_FRAME_LEN;
use shared::{Frame, Message};
use tokio::sync::oneshot;

use shared::frame::features::Granted;

use super::{Context, SHUTTING_DOWN, WELCOME};
use crate::cluster::Claim;
use crate::hub::{Command, LoginAnswer, LoginRequest, NAME_IN_USE, Peer};
use crate::registry::{Proof, not_registered};
use crate::wire;

/// What a login offers besides the name (extension `account`).
pub(super) enum Credential {
    /// Nothing: a plain login.
    None,
    /// `PASSWORD`.
    Password(String),
    /// `TOKEN`.
    Token(String),
}

/// An accepted login, ready to be sent.
pub(super) struct LoginReply {
    /// The name as shown (a held name keeps its holder's spelling).
    pub(super) name: String,
    /// Its key.
    pub(super) key: String,
    pub(super) granted: Granted,
    /// The whole reply frame's JSON.
    pub(super) frame: Vec<u8>,
    /// Messages that rode in the same frame as the USERNAME, sent once logged in.
    pub(super) then_send: Vec<Message>,
}

/// The INFO of a login that cannot be decided because the cluster's bus is unreachable.
pub const CLUSTER_UNAVAILABLE: &str =
    "Logins cannot be checked right now (the cluster is unreachable); please try again.";

/// Whether `proof` shows that a login from `ip` owns the account `key` (asked of the hub,
/// which keeps the accounts).
async fn owns(ctx: &Context, key: &str, ip: std::net::IpAddr, proof: &Proof) -> bool {
    if matches!(proof, Proof::None) {
        return false;
    }
    let (reply, answer) = oneshot::channel();
    let ask = Command::Proves { key: key.to_owned(), ip, proof: proof.clone(), reply };
    ctx.hub.send(ask).await.is_ok() && answer.await.unwrap_or(false)
}

/// Why a login did not succeed.
pub(super) enum LoginFailed {
    /// The hub refused the name, with the INFO to show; `then_send`: messages came with the
    /// USERNAME and were not delivered.
    Refused { info: String, then_send: bool },
    /// The server is stopping or the history could not be read.
    Unavailable(String),
}

/// Logs in at the hub, waits until the join history is committed, reads it and builds the reply.
#[allow(clippy::too_many_arguments, reason = "one login's parts")]
pub(super) async fn answer(
    ctx: Arc<Context>,
    name: String,
    key: String,
    ip: std::net::IpAddr,
    credential: Credential,
    features: Option<Vec<String>>,
    resume_after: Option<i64>,
    peer: Peer,
    then_send: Vec<Message>,
) -> Result<LoginReply, LoginFailed> {
    let unavailable = || LoginFailed::Unavailable(SHUTTING_DOWN.to_owned());
    let refused = |info: String| {
        ctx.metrics.login(false);
        LoginFailed::Refused { info, then_send: !then_send.is_empty() }
    };
    let proof = match credential {
        Credential::None => Proof::None,
        Credential::Token(token) => Proof::Token(crate::accounts::token_hash(&token)),
        Credential::Password(password) => {
            use super::account::{CheckFailed, check};
            match check(&ctx, &key, ip, password).await {
                Ok(hash) => Proof::Password(hash),
                Err(CheckFailed::NotRegistered) => return Err(refused(not_registered(&name))),
                Err(CheckFailed::Wrong) => {
                    return Err(refused(format!("Wrong password for {name}.")));
                }
            }
        }
    };
    // In a cluster the name is claimed for every node first; the hub decides the rest.
    let claim = match &ctx.bus {
        None => None,
        Some(bus) => match bus.claim(&key, &name).await {
            Ok(Claim::Claimed(revision)) => Some(revision),
            // The account's owner takes the name over from its connection on another node
            // (one it left behind), as it would on this one.
            Ok(Claim::Held(_)) if owns(&ctx, &key, ip, &proof).await => {
                match bus.take(&key, &name).await {
                    Ok(revision) => {
                        let _ = ctx.hub.send(Command::Replace { key: key.clone() }).await;
                        Some(revision)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a name could not be taken over");
                        return Err(LoginFailed::Unavailable(CLUSTER_UNAVAILABLE.to_owned()));
                    }
                }
            }
            Ok(Claim::Held(_)) => return Err(refused(NAME_IN_USE.to_owned())),
            Err(e) => {
                tracing::warn!(error = %e, "a name could not be claimed");
                return Err(LoginFailed::Unavailable(CLUSTER_UNAVAILABLE.to_owned()));
            }
        },
    };
    let release = async || {
        if let (Some(bus), Some(revision)) = (&ctx.bus, claim) {
            let _ = bus.release(&key, revision).await;
        }
    };
    let granted = Granted::from_list(features.as_deref().unwrap_or_default());
    let (reply, answer) = oneshot::channel();
    let sent = ctx
        .hub
        .send(Command::Login(LoginRequest {
            name: name.clone(),
            key: key.clone(),
            ip,
            proof,
            peer,
            reply,
            claim,
            rooms: granted.rooms,
            resume: granted.resume,
            edit: granted.edit,
            files: granted.files,
        }))
        .await;
    if sent.is_err() {
        release().await;
        return Err(unavailable());
    }
    let (upto, users, blocked, hidden, name, since, registered, operator, token, rooms) =
        match answer.await.map_err(|_| unavailable())? {
            LoginAnswer::Refused(info) => {
                release().await;
                return Err(refused(info));
            }
            LoginAnswer::Accepted {
                upto,
                users,
                blocked,
                hidden,
                name,
                since,
                registered,
                operator,
                token,
                rooms,
            } => (upto, users, blocked, hidden, name, since, registered, operator, token, rooms),
        };
    let mut committed = ctx.committed.clone();
    committed.wait_for(|c| *c >= upto).await.map_err(|_| unavailable())?;
    let room_names: Vec<String> = rooms.iter().map(|r| r.name.clone()).collect();
    // Resuming (`SINCE`): only what came after the client's last message.
    let since_asked = resume_after.filter(|_| granted.resume);
    let after = since_asked.unwrap_or(0);
    let read = ctx
        .reader
        .history_after(&name, upto, ctx.history, &hidden, since, &room_names, after)
        .await;
    let cannot_read = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "reading history");
        LoginFailed::Unavailable("The history cannot be read right now; please try again.".into())
    };
    let mut history = read.map_err(cannot_read)?;
    // If the newest `--history` after SINCE fill the history, those before them are missed.
    let mut missed = None;
    if since_asked.is_some() {
        let oldest = history.first().and_then(|m| m.id);
        missed = Some(match oldest {
            Some(before) if history.len() == ctx.history => ctx
                .reader
                .count_between(&name, after, before, &hidden, since, &room_names)
                .await
                .map_err(cannot_read)?,
            _ => 0,
        });
    }
    super::edit::shown(&mut history, granted);
    let head = Frame {
        username_accepted: Some(true),
        info: Some(WELCOME.to_owned()),
        features,
        blocked: granted.block.then_some(blocked),
        registered: granted.account.then_some(registered),
        token: token.filter(|_| granted.account),
        operator: granted.moderation.then_some(operator),
        my_rooms: granted.rooms.then_some(rooms),
        missed,
        ..Frame::default()
    };
    // USER_LIST is the JSON array the hub built; the history is spliced in entry by entry,
    // the oldest left out if the frame would be too long.
    let frame = wire::login_frame(&head, &users, &history, MAX_SERVER_FRAME_LEN);
    ctx.metrics.login(true);
    Ok(LoginReply { name, key, granted, frame, then_send })
}
