//! Who the user is signed in as, and logging out (extension `account`): "log out" ends this
//! session (and forgets the kept token), "log out everywhere" every session of the account.
//! The account settings register the name, change its password or remove the account.

use futures_channel::mpsc;
use leptos::prelude::*;

use super::send;
use crate::outbox::Out;
use crate::state::{Change, Model, PasswordForm};

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
            <Show when=move || accounts.get()>
                <Settings model tx registered />
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

/// The account settings, folded: register the name, or change its password or remove it.
#[component]
fn Settings(
    model: RwSignal<Model>,
    tx: StoredValue<mpsc::Sender<Out>>,
    /// Whether the name is registered.
    registered: Memo<bool>,
) -> impl IntoView {
    let form = RwSignal::new(PasswordForm::default());
    let error = RwSignal::new(None::<String>);
    let request = move |change: Change| match model
        .with_untracked(|m| m.change(change, &form.get_untracked()))
    {
        Ok(frame) => {
            send(tx, model, Out::Frame(Box::new(frame)));
            form.set(PasswordForm::default());
            error.set(None);
        }
        Err(e) => error.set(Some(e)),
    };
    let field = move |id: &'static str,
                      label: &'static str,
                      get: fn(&PasswordForm) -> String,
                      set: fn(&mut PasswordForm, String)| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="password" autocomplete="off" maxlength="1024"
                prop:value=move || form.with(get)
                on:input=move |ev| form.update(|f| set(f, event_target_value(&ev))) />
        }
    };
    view! {
        <details class="settings" data-test="account-settings">
            <summary>"Account"</summary>
            <form class="moderate" on:submit=|ev| ev.prevent_default()>
                <Show when=move || registered.get()>
                    {field("acct-current", "Current password", |f| f.current.clone(), |f, v| f.current = v)}
                </Show>
                {field("acct-new", "New password (at least 8 characters)", |f| f.new.clone(), |f, v| f.new = v)}
                {field("acct-again", "New password again", |f| f.again.clone(), |f, v| f.again = v)}
                <div class="actions">
                    <Show
                        when=move || registered.get()
                        fallback=move || view! {
                            <button type="button" data-test="acct-register" on:click=move |_| request(Change::Register)>
                                "Register this name"
                            </button>
                        }
                    >
                        <button type="button" data-test="acct-change" on:click=move |_| request(Change::Password)>
                            "Change password"
                        </button>
                        <button type="button" data-test="acct-unregister" on:click=move |_| request(Change::Unregister)
                                title="Needs the current password only">
                            "Remove account"
                        </button>
                    </Show>
                </div>
                <Show when=move || error.with(Option::is_some)>
                    <p class="error" role="alert" data-test="acct-error">{move || error.get().unwrap_or_default()}</p>
                </Show>
            </form>
        </details>
    }
}
