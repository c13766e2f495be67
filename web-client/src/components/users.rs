//! Who is online (or everyone ever seen), in two tabs: click a name to write to them
//! privately; block and unblock; the blocked list; unread private-message badges; for an
//! operator, a "moderate" button on each row that opens the kick, ban and mute form. The panel
//! re-renders when its names change (the model's `people` revision), not on every message.

use futures_channel::mpsc;
use leptos::ev::KeyboardEvent;
use leptos::html::{Button, Input};
use leptos::prelude::*;
use shared::Frame;

use super::send;
use crate::outbox::Out;
use crate::palette::nick_class;
use crate::state::{Action, ModForm, Model, Tab};

/// The id of the panel the tabs control.
const PANEL: &str = "people-panel";

/// The id of a tab's button.
fn tab_id(tab: Tab) -> &'static str {
    match tab {
        Tab::Online => "tab-online",
        Tab::Everyone => "tab-everyone",
    }
}

/// The side panel.
#[component]
pub fn Users(
    /// The page's state.
    model: RwSignal<Model>,
    /// Where frames go.
    tx: StoredValue<mpsc::Sender<Out>>,
    /// The composer's input, focused when a name is picked.
    composer: NodeRef<Input>,
) -> impl IntoView {
    let people = Memo::new(move |_| model.with(Model::people));
    let tab = Memo::new(move |_| model.with(Model::tab));
    let online = Memo::new(move |_| model.with(|m| m.chat.online.len()));
    let unread = Memo::new(move |_| model.with(|m| m.unread.clone()));
    let total_unread = Memo::new(move |_| model.with(Model::total_unread));
    let any_blocked = Memo::new(move |_| model.with(|m| !m.chat.blocked.is_empty()));
    // The name the operator's form is open for.
    let moderating = RwSignal::new(None::<String>);
    let pick = move |name: &str| {
        model.update(|m| m.address(name));
        if let Some(input) = composer.get_untracked() {
            let _ = input.focus();
        }
    };
    let choose = move |chosen: Tab| {
        model.update(|m| m.set_tab(chosen));
        if chosen == Tab::Everyone {
            let list = Frame { list_all_users: Some(true), ..Frame::default() };
            send(tx, model, Out::Frame(Box::new(list)));
        }
    };
    let buttons = [NodeRef::<Button>::new(), NodeRef::<Button>::new()];
    // arrow keys, Home and End move between the tabs (the WAI-ARIA tabs pattern)
    let on_key = move |ev: KeyboardEvent| {
        let next = match (ev.key().as_str(), tab.get_untracked()) {
            ("ArrowRight" | "ArrowLeft", Tab::Online) | ("End", _) => Tab::Everyone,
            ("ArrowRight" | "ArrowLeft", Tab::Everyone) | ("Home", _) => Tab::Online,
            _ => return,
        };
        ev.prevent_default();
        if next != tab.get_untracked() {
            choose(next);
        }
        if let Some(button) = buttons[usize::from(next == Tab::Everyone)].get_untracked() {
            let _ = button.focus();
        }
    };
    let tab_button = move |which: Tab, node: NodeRef<Button>, label: Signal<String>| {
        let selected = move || tab.get() == which;
        view! {
            <button role="tab" id=tab_id(which) aria-controls=PANEL node_ref=node
                    aria-selected=move || selected().to_string()
                    tabindex=move || if selected() { "0" } else { "-1" }
                    on:click=move |_| choose(which)
                    data-test="tab">
                {move || label.get()}
            </button>
        }
    };
    let row = move |name: String| {
        let me = model.with_untracked(|m| m.chat.me.clone());
        let is_me = me.as_deref() == Some(name.as_str());
        let n = name.clone();
        let blocked = Memo::new(move |_| {
            people.with(|_| model.with_untracked(|m| m.chat.blocked.contains(&n)))
        });
        let n = name.clone();
        let unread_here = Memo::new(move |_| unread.with(|u| u.get(&n).copied().unwrap_or(0)));
        let label = format!("Write privately to {name}");
        let granted = model.with_untracked(|m| m.chat.granted.block);
        let block = (!is_me && granted).then(|| {
            let n = name.clone();
            let toggle = move |_| {
                let frame = model.with_untracked(|m| m.toggle_block(&n));
                send(tx, model, Out::Frame(Box::new(frame)));
            };
            let n = name.clone();
            view! {
                <button class="block" data-test="block" on:click=toggle
                    aria-label=move || format!("{} {n}", if blocked.get() { "Unblock" } else { "Block" })>
                    {move || if blocked.get() { "unblock" } else { "block" }}
                </button>
            }
        });
        let operator = model.with_untracked(Model::operator);
        let moderate = (!is_me && operator).then(|| {
            let n = name.clone();
            let open = move |_| moderating.set(Some(n.clone()));
            view! {
                <button class="block" data-test="moderate" data-name=name.clone() on:click=open
                    aria-label=format!("Moderate {name}")>"moderate"</button>
            }
        });
        let n = name.clone();
        view! {
            <li class:blocked=move || blocked.get()>
                <button class=format!("name {}", nick_class(&name)) title=label.clone() aria-label=label
                        on:click=move |_| pick(&n) data-test="user">
                    {name.clone()}
                    {is_me.then_some(" (you)")}
                </button>
                <Show when=move || unread_here.get() != 0>
                    <span class="badge" aria-label="unread private messages">{move || unread_here.get()}</span>
                </Show>
                {block}
                {moderate}
            </li>
        }
    };
    // Reading the revision (not only tracking it) keeps its memo computed and so current.
    let listed = move || people.with(|_| model.with_untracked(Model::listed));
    let blocked_names = move || {
        people
            .with(|_| model.with_untracked(|m| m.chat.blocked.iter().cloned().collect::<Vec<_>>()))
    };
    view! {
        <aside class="users" aria-label="People">
            <div class="tabs-row">
                <div class="tabs" role="tablist" aria-label="People" on:keydown=on_key>
                    {tab_button(Tab::Online, buttons[0], Signal::derive(move || format!("Online ({})", online.get())))}
                    {tab_button(Tab::Everyone, buttons[1], Signal::derive(|| "Everyone".to_owned()))}
                </div>
                <Show when=move || total_unread.get() != 0>
                    <span class="badge total" data-test="unread">{move || total_unread.get()}</span>
                </Show>
            </div>
            <div role="tabpanel" id=PANEL aria-labelledby=move || tab_id(tab.get()) data-test="tabpanel">
                <ul class="list">
                    <For each=listed key=|n| n.clone() children=row />
                </ul>
            </div>
            {move || moderating.get().map(|name| view! { <Moderate model tx moderating name /> })}
            <Show when=move || any_blocked.get()>
                <h3>"Blocked"</h3>
                <ul class="list blocked-list" data-test="blocked">
                    <For each=blocked_names key=|n| n.clone() children=move |n| view! { <li>{n}</li> } />
                </ul>
            </Show>
        </aside>
    }
}

/// The operator's form for one user: duration, reason, the address too, and the actions.
#[component]
fn Moderate(
    model: RwSignal<Model>,
    tx: StoredValue<mpsc::Sender<Out>>,
    /// Closed by setting it to `None`.
    moderating: RwSignal<Option<String>>,
    /// Whom.
    name: String,
) -> impl IntoView {
    let form = RwSignal::new(ModForm { duration: "1d".into(), ..ModForm::default() });
    let error = RwSignal::new(None::<String>);
    let target = name.clone();
    let act = move |action: Action| match model
        .with_untracked(|m| m.moderate(action, &target, &form.get_untracked()))
    {
        Ok(frame) => {
            send(tx, model, Out::Frame(Box::new(frame)));
            moderating.set(None);
        }
        Err(e) => error.set(Some(e)),
    };
    let buttons = Action::ALL.map(|action| {
        let act = act.clone();
        view! {
            <button type="button" data-test=format!("mod-{}", action.label())
                on:click=move |_| act(action)>{action.label()}</button>
        }
    });
    view! {
        <form class="moderate" data-test="mod-form" on:submit=|ev| ev.prevent_default()>
            <h3>"Moderate " {name}</h3>
            <label for="mod-duration">"For (ban, mute)"</label>
            <input id="mod-duration" placeholder="30m, 12h, 7d, 2w or forever"
                prop:value=move || form.with(|f| f.duration.clone())
                on:input=move |ev| form.update(|f| f.duration = event_target_value(&ev)) />
            <label for="mod-reason">"Reason (everyone sees it)"</label>
            <input id="mod-reason" maxlength="300"
                prop:value=move || form.with(|f| f.reason.clone())
                on:input=move |ev| form.update(|f| f.reason = event_target_value(&ev)) />
            <label class="check">
                <input id="mod-address" type="checkbox"
                    prop:checked=move || form.with(|f| f.with_address)
                    on:change=move |ev| form.update(|f| f.with_address = event_target_checked(&ev)) />
                " Ban the address too"
            </label>
            <div class="actions">
                {buttons}
                <button type="button" data-test="mod-cancel" on:click=move |_| moderating.set(None)>"cancel"</button>
            </div>
            <Show when=move || error.with(Option::is_some)>
                <p class="error" role="alert" data-test="mod-error">{move || error.get().unwrap_or_default()}</p>
            </Show>
        </form>
    }
}
