//! Who is online (or everyone ever seen): click a name to write to them privately; block and
//! unblock; the blocked list; unread private-message badges.

use futures_channel::mpsc;
use leptos::prelude::*;
use shared::Frame;

use super::{color_class, send};
use crate::conn::Out;
use crate::state::{Model, Tab};

/// The side panel.
#[component]
pub fn Users(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
) -> impl IntoView {
    let pick = move |name: String| {
        model.update(|m| m.read(&name));
        if let Some(input) = document().get_element_by_id("composer-input") {
            use js_sys::wasm_bindgen::JsCast;
            if let Ok(input) = input.dyn_into::<web_sys::HtmlInputElement>() {
                input.set_value(&format!("@{name} "));
                let _ = input.focus();
            }
        }
    };
    let show_everyone = move |_| {
        model.update(|m| m.tab = Tab::Everyone);
        send(
            &tx,
            model,
            Out::Frame(Box::new(Frame { list_all_users: Some(true), ..Frame::default() })),
        );
    };
    let row = move |name: String| {
        let me = model.with_untracked(|m| m.chat.me.clone());
        let is_me = me.as_deref() == Some(name.as_str());
        let n1 = name.clone();
        let n2 = name.clone();
        let n3 = name.clone();
        let blocked = Signal::derive(move || model.with(|m| m.chat.blocked.contains(&n2)));
        let unread =
            Signal::derive(move || model.with(|m| m.unread.get(&n3).copied().unwrap_or(0)));
        let label = format!("Write privately to {name}");
        view! {
            <li class:blocked=blocked>
                <button class=format!("name {}", color_class(&name)) title=label.clone() aria-label=label
                        on:click=move |_| pick(n1.clone()) data-test="user">
                    {name.clone()}
                    {is_me.then_some(" (you)")}
                </button>
                <Show when=move || unread.get() != 0>
                    <span class="badge" aria-label="unread private messages">{move || unread.get()}</span>
                </Show>
                {(!is_me).then(|| {
                    let n = name.clone();
                    let granted = model.with_untracked(|m| m.chat.granted.block);
                    granted.then(|| view! {
                        <button class="block" data-test="block"
                            aria-label=move || format!("{} {}", if blocked.get() { "Unblock" } else { "Block" }, n)
                            on:click={
                                let n = name.clone();
                                move |_| {
                                    let frame = model.with_untracked(|m| m.toggle_block(&n));
                                    send(&tx, model, Out::Frame(Box::new(frame)));
                                }
                            }>
                            {move || if blocked.get() { "unblock" } else { "block" }}
                        </button>
                    })
                })}
            </li>
        }
    };
    view! {
        <aside class="users" aria-label="People">
            <div class="tabs" role="tablist">
                <button role="tab" aria-selected=move || model.with(|m| m.tab == Tab::Online).to_string()
                        on:click=move |_| model.update(|m| m.tab = Tab::Online)>
                    {move || model.with(|m| format!("Online ({})", m.chat.online.len()))}
                </button>
                <button role="tab" aria-selected=move || model.with(|m| m.tab == Tab::Everyone).to_string()
                        on:click=show_everyone>
                    "Everyone"
                </button>
                <Show when=move || model.with(|m| m.total_unread() > 0)>
                    <span class="badge total" data-test="unread">{move || model.with(|m| m.total_unread())}</span>
                </Show>
            </div>
            <ul class="list">
                <For each=move || model.with(|m| m.listed()) key=|n| n.clone() children=row />
            </ul>
            <Show when=move || model.with(|m| !m.chat.blocked.is_empty())>
                <h3>"Blocked"</h3>
                <ul class="list blocked-list" data-test="blocked">
                    <For each=move || model.with(|m| m.chat.blocked.iter().cloned().collect::<Vec<_>>())
                         key=|n| n.clone()
                         children=move |n| view! { <li>{n}</li> } />
                </ul>
            </Show>
        </aside>
    }
}
