//! The conversation: local-time stamps, own and private messages marked, joins, leaves and
//! errors inline. Text is always text (never HTML from users). New messages scroll into view
//! unless the user has scrolled up to read; then a marker counts them.

use client_core::chat::Entry;
use leptos::html::Div;
use leptos::prelude::*;

use super::{clock, color_class};
use crate::state::{Item, Model};

/// How close to the bottom (pixels) still counts as following the conversation.
const BOTTOM_SLACK: i32 = 24;

fn line(item: Item, me: Option<String>, first_unseen: Option<u64>) -> impl IntoView {
    let marker = (first_unseen == Some(item.id))
        .then(|| view! { <div class="new-marker" role="separator">"new messages"</div> });
    let body = match item.entry {
        Entry::Message { time, src, dest, text, own, private } => {
            let mut class = String::from("msg");
            if own {
                class.push_str(" own");
            }
            if private {
                class.push_str(" private");
            }
            let to = private.then(|| {
                let shown =
                    if Some(&dest) == me.as_ref() { "you".to_owned() } else { dest.clone() };
                view! { <span class="to">" → " {shown} " (private)"</span> }
            });
            view! {
                <div class=class data-test="message">
                    <time>{clock(time)}</time>
                    " "
                    <span class=format!("nick {}", color_class(&src))>{src.clone()}</span>
                    {to}
                    ": "
                    <span class="text">{text}</span>
                </div>
            }
            .into_any()
        }
        Entry::Joined(n) => view! { <div class="event join">"→ " {n} " joined"</div> }.into_any(),
        Entry::Left(n) => view! { <div class="event leave">"← " {n} " left"</div> }.into_any(),
        Entry::Info(t) => view! { <div class="event info">{t}</div> }.into_any(),
        Entry::Error(t) => view! { <div class="event error" role="alert">{t}</div> }.into_any(),
        Entry::List { title, names } => {
            view! { <div class="event info">{client_core::fmt::list(&title, &names)}</div> }
                .into_any()
        }
    };
    view! { {marker} {body} }
}

/// The message list.
#[component]
pub fn Messages(
    /// The page's state.
    model: RwSignal<Model>,
) -> impl IntoView {
    let pane: NodeRef<Div> = NodeRef::new();
    // Follow new messages while the user is at the bottom.
    Effect::new(move |_| {
        let (count, following) = model.with(|m| (m.items.len(), m.following));
        if following
            && count > 0
            && let Some(el) = pane.get()
        {
            el.set_scroll_top(el.scroll_height());
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = pane.get_untracked() {
            let at_bottom =
                el.scroll_top() + el.client_height() >= el.scroll_height() - BOTTOM_SLACK;
            if at_bottom != model.with_untracked(|m| m.following) || at_bottom {
                model.update(|m| m.scrolled(at_bottom));
            }
        }
    };
    let jump = move |_| {
        model.update(|m| m.scrolled(true));
        if let Some(el) = pane.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    view! {
        <section class="messages-wrap" aria-label="Messages">
            <div class="messages" role="log" aria-live="polite" node_ref=pane on:scroll=on_scroll data-test="messages">
                <For
                    each=move || model.with(|m| m.items.clone())
                    key=|item| item.id
                    children=move |item| {
                        let me = model.with_untracked(|m| m.chat.me.clone());
                        let first = model.with_untracked(|m| m.first_unseen);
                        line(item, me, first)
                    }
                />
            </div>
            <Show when=move || model.with(|m| m.unseen > 0)>
                <button class="jump" on:click=jump>
                    {move || model.with(|m| format!("↓ {} new", m.unseen))}
                </button>
            </Show>
        </section>
    }
}
