//! The login view: a username, an optional password (a registered name's, or the one to
//! register the name with), the server's reason when it refuses one, and retry.

use futures_channel::mpsc;
use leptos::prelude::*;

use super::send;
use crate::outbox::Out;
use crate::state::{Model, Phase};

/// Asks for a username and, optionally, a password.
#[component]
pub fn Login(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let name = RwSignal::new(model.with_untracked(|m| m.last_name.clone()));
    let password = RwSignal::new(String::new());
    let register = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = password.get_untracked();
        let joined = model.try_update(|m| {
            (m.join(&name.get_untracked(), &typed, register.get_untracked()), m.stopped())
        });
        match joined {
            Some((Some(frame), _)) => send(tx, model, Out::Frame(Box::new(frame))),
            // the server had ended the session: connect again, the login follows
            Some((None, true)) => send(tx, model, Out::Reconnect),
            _ => {}
        }
        // The page keeps no password: the model holds it until the server answers.
        if model.with_untracked(|m| m.login_error.is_none()) {
            password.set(String::new());
        }
    };
    let joining = Memo::new(move |_| model.with(|m| m.phase == Phase::Joining));
    let error = Memo::new(move |_| model.with(|m| m.login_error.clone()));
    view! {
        <form class="login" on:submit=submit>
            <h2>"Join the chat"</h2>
            <label for="username">"Username"</label>
            <input
                id="username"
                name="username"
                autocomplete="username"
                maxlength="32"
                autofocus
                required
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))
            />
            <label for="password">"Password " <span class="hint">"(for a registered name)"</span></label>
            <input
                id="password"
                name="password"
                type="password"
                autocomplete=move || if register.get() { "new-password" } else { "current-password" }
                maxlength="1024"
                prop:value=move || password.get()
                on:input=move |ev| password.set(event_target_value(&ev))
            />
            <label class="check">
                <input id="register" type="checkbox"
                    prop:checked=move || register.get()
                    on:change=move |ev| register.set(event_target_checked(&ev)) />
                " Register this name with this password (at least 8 characters)"
            </label>
            <button type="submit" disabled=move || joining.get()>{move || if joining.get() { "Joining…" } else { "Join" }}</button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-test="login-error">
                    {move || error.get().unwrap_or_default()}
                </p>
            </Show>
        </form>
    }
}
