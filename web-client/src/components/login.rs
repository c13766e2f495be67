//! The login view: a username, the server's reason when it refuses one, and retry.

use futures_channel::mpsc;
use leptos::prelude::*;

use super::send;
use crate::outbox::Out;
use crate::state::{Model, Phase};

/// Asks for a username.
#[component]
pub fn Login(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(frame) = model.try_update(|m| m.join(&name.get_untracked())).flatten() {
            send(tx, model, Out::Frame(Box::new(frame)));
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
            <button type="submit" disabled=move || joining.get()>{move || if joining.get() { "Joining…" } else { "Join" }}</button>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-test="login-error">
                    {move || error.get().unwrap_or_default()}
                </p>
            </Show>
        </form>
    }
}
