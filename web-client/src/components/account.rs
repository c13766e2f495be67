//! Who the user is signed in as, and logging out (extension `account`): "log out" ends this
//! session (and forgets the kept token), "log out everywhere" every session of the account.

use futures_channel::mpsc;
use leptos::prelude::*;

use super::send;
use crate::outbox::Out;
use crate::state::Model;

/// The signed-in bar above the chat.
#[component]
pub fn SignedIn(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let me = Memo::new(move |_| model.with(|m| m.chat.me.clone().unwrap_or_default()));
    let registered = Memo::new(move |_| model.with(|m| m.chat.registered == Some(true)));
    let operator = Memo::new(move |_| model.with(Model::operator));
    let accounts = Memo::new(move |_| model.with(|m| m.chat.granted.account));
    let logout = move |everywhere: bool| {
        if let Some(frame) = model.try_update(|m| m.logout(everywhere)).flatten() {
            send(tx, model, Out::Frame(Box::new(frame)));
        }
        send(tx, model, Out::Reconnect);
    };
    view! {
        <div class="signed-in" data-test="account"
             data-registered=move || registered.get().to_string()
             data-operator=move || operator.get().to_string()>
            <span data-test="me">"Signed in as " <strong>{move || me.get()}</strong></span>
            <Show when=move || registered.get()>
                <span class="tag" title="Only its password or a kept session logs in to this name">"registered"</span>
            </Show>
            <Show when=move || operator.get()>
                <span class="tag">"operator"</span>
            </Show>
            <Show when=move || accounts.get() && !registered.get()>
                <span class="hint">"Not registered: anyone may take this name once you leave."</span>
            </Show>
            <button type="button" data-test="logout" on:click=move |_| logout(false)>"Log out"</button>
            <Show when=move || registered.get()>
                <button type="button" data-test="logout-everywhere" on:click=move |_| logout(true)
                        title="End every session of this account, on every device">
                    "Log out everywhere"
                </button>
            </Show>
        </div>
    }
}
