//! The `account` requests that need a password first: `REGISTER` (hash the new one),
//! `CHANGE_PASSWORD` and `UNREGISTER` (check the old one, under the account's backoff). The
//! slow part runs here, off the hub; the hub gets the result and decides.

use std::net::IpAddr;
use std::sync::Arc;

use shared::Frame;
use tokio::sync::oneshot;

use super::Context;
use crate::hub::account::{NOT_REGISTERED, Request};
use crate::hub::{Command, ConnId};

/// How many login attempts a wrong password costs its address (one is the login itself):
/// guessing meets the per-address login limit five times sooner than logging in does.
pub(super) const FAILED_PASSWORD_COST: u32 = 4;

/// A request waiting for its password work.
pub(super) enum Job {
    /// `REGISTER`: the new password.
    Register(String),
    /// `CHANGE_PASSWORD`: old, new.
    Change(String, String),
    /// `UNREGISTER`: the password.
    Unregister(String),
}

/// The ERROR for an old password that does not match.
const WRONG: &str = "Wrong password; nothing was changed.";

/// Does the job's password work and hands the request to the hub (which answers through
/// the outbox). Returns a frame's JSON to send when it ends here with an ERROR.
pub(super) async fn run(
    job: Job,
    conn: ConnId,
    key: String,
    ip: IpAddr,
    ctx: Arc<Context>,
) -> Option<Vec<u8>> {
    let error = |text: &str| Some(shared::encode(&Frame::error(text)));
    let request = match job {
        Job::Register(password) => match ctx.hasher.hash(password).await {
            Ok(hash) => Request::Register { hash },
            Err(e) => {
                tracing::error!(error = %e, "hashing a password");
                return error("The password could not be hashed; please try again.");
            }
        },
        Job::Change(old, new) => {
            let checked = match check(&ctx, &key, ip, old).await {
                Ok(hash) => hash,
                Err(CheckFailed::Wrong) => return error(WRONG),
                Err(CheckFailed::NotRegistered) => return error(NOT_REGISTERED),
            };
            match ctx.hasher.hash(new).await {
                Ok(hash) => Request::ChangePassword { checked, hash },
                Err(e) => {
                    tracing::error!(error = %e, "hashing a password");
                    return error("The password could not be hashed; please try again.");
                }
            }
        }
        Job::Unregister(password) => {
            let checked = match check(&ctx, &key, ip, password).await {
                Ok(hash) => hash,
                Err(CheckFailed::Wrong) => return error(WRONG),
                Err(CheckFailed::NotRegistered) => return error(NOT_REGISTERED),
            };
            Request::Unregister { checked }
        }
    };
    let _ = ctx.hub.send(Command::Account { conn, request }).await;
    None
}

/// Why a password check did not pass.
pub(super) enum CheckFailed {
    /// The name is not registered (or the server is stopping).
    NotRegistered,
    /// The password is wrong.
    Wrong,
}

/// Checks `password` against the account `key` under its backoff; the hash it matched. A
/// wrong password is counted against the account and the address.
pub(super) async fn check(
    ctx: &Context,
    key: &str,
    ip: IpAddr,
    password: String,
) -> Result<Arc<str>, CheckFailed> {
    let (tx, rx) = oneshot::channel();
    let asked = ctx.hub.send(Command::Credentials { key: key.to_owned(), reply: tx }).await;
    if asked.is_err() {
        return Err(CheckFailed::NotRegistered);
    }
    let Ok(Some((hash, at))) = rx.await else { return Err(CheckFailed::NotRegistered) };
    tokio::time::sleep_until(at).await;
    if ctx.hasher.verify(password, Arc::clone(&hash)).await.unwrap_or(false) {
        return Ok(hash);
    }
    let _ = ctx.hub.send(Command::PasswordFailed { key: key.to_owned() }).await;
    ctx.per_address.penalize(ip, FAILED_PASSWORD_COST);
    Err(CheckFailed::Wrong)
}
