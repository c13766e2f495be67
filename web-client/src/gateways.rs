//! Which WebSocket gateways the page connects to, and in which order. By default the one of
//! the page's own origin; `?ws=URL1,URL2` in the page's address lists others (the nodes of a
//! cluster), tried as [`client_core::rotation`] says, the same rule as the terminal client's:
//! at first the first that answers; after a lost connection the next one first (the node the
//! page was on may be dead), cycling; a gateway that fails is followed at once by the next,
//! and the [`Backoff`]'s wait comes once per full round of failures, not per gateway.

use client_core::rotation::Rotation;

use crate::backoff::{Backoff, Ended};

/// Most gateways `?ws=` may list; further ones are ignored. A round tries each in turn, and
/// a page address is typed or bookmarked by a person: a cluster of more nodes is better put
/// behind a load balancer (see the README).
pub const MAX_GATEWAYS: usize = 16;

/// The gateways the page connects to, and the wait before the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateways {
    /// The gateways' URLs and which one is next.
    rotation: Rotation<String>,
    /// The wait after a full round of failures, or after a lost connection.
    backoff: Backoff,
}

impl Gateways {
    /// The gateways of a page whose address's query is `search` (`location.search`, e.g.
    /// `?ws=wss://a/ws,wss://b/ws`): those listed in `ws`, or else `own()`, the page's own.
    pub fn for_page(search: &str, own: impl FnOnce() -> String) -> Self {
        let rotation =
            from_query(search).and_then(Rotation::new).unwrap_or_else(|| Rotation::single(own()));
        Gateways { rotation, backoff: Backoff::default() }
    }

    /// The URL of the gateway to open next (or open now).
    pub fn url(&self) -> &str {
        self.rotation.current()
    }

    /// How the status names the current gateway: `Some` only when there are several, so that
    /// the user can tell which one the page is on.
    pub fn shown(&self) -> Option<String> {
        (self.rotation.len() > 1).then(|| label(self.url()).to_owned())
    }

    /// Logged in: the next failure waits the shortest pause again.
    pub fn logged_in(&mut self) {
        self.backoff.reset();
    }

    /// The connection (or attempt) ended; moves to the gateway to try next and returns how
    /// many milliseconds to wait before opening it.
    pub fn after(&mut self, ended: Ended) -> u32 {
        match ended {
            Ended::Left => self.rotation.stay(),
            Ended::Dropped => self.rotation.lost(),
            Ended::Failed => {
                if !self.rotation.failed() {
                    // another gateway is left in this round: open it at once
                    return 0;
                }
            }
        }
        self.backoff.after(ended)
    }
}

/// The gateways listed in a page address's query: every `ws` parameter, percent-decoded (as
/// `encodeURIComponent` encodes, so a whole encoded list works as well as encoded URLs
/// separated by plain commas), split at commas, without empty entries, at most
/// [`MAX_GATEWAYS`]. `None` when there is none, or a `ws` value is not validly encoded.
pub fn from_query(search: &str) -> Option<Vec<String>> {
    let mut urls = Vec::new();
    for param in search.strip_prefix('?').unwrap_or(search).split('&') {
        let Some(value) = param.strip_prefix("ws=") else { continue };
        let decoded = percent_decode(value)?;
        urls.extend(decoded.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from));
    }
    urls.truncate(MAX_GATEWAYS);
    (!urls.is_empty()).then_some(urls)
}

/// Percent-decoding as `decodeURIComponent` does it: `%XX` becomes that byte, anything else
/// (a `+` included) stays; `None` if a `%` is not followed by two hex digits or the bytes
/// are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A gateway's name for the status: its host and port (`b.example:8443` of
/// `wss://b.example:8443/ws`), or the whole URL if it has no `scheme://`.
pub fn label(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::FIRST_BACKOFF_MS;

    fn own() -> String {
        "wss://page.example/ws".into()
    }

    #[test]
    fn the_pages_own_gateway_unless_the_address_lists_others() {
        for search in ["", "?", "?x=1", "?ws=", "?ws=,", "?wss=wss://a/ws", "?ws=%zz"] {
            let g = Gateways::for_page(search, own);
            assert_eq!((g.url(), g.shown()), ("wss://page.example/ws", None), "{search:?}");
        }
        let g = Gateways::for_page("?ws=wss://a.example:8443/ws", own);
        assert_eq!((g.url(), g.shown()), ("wss://a.example:8443/ws", None), "one: not named");
    }

    #[test]
    fn a_list_in_plain_commas_or_encoded_whole_or_in_several_parameters() {
        let want = ["wss://a.example:8443/ws", "wss://b.example/ws"].map(String::from).to_vec();
        for search in [
            "?ws=wss://a.example:8443/ws,wss://b.example/ws",
            "?ws=wss%3A%2F%2Fa.example%3A8443%2Fws%2Cwss%3A%2F%2Fb.example%2Fws",
            "?ws=wss%3A%2F%2Fa.example%3A8443%2Fws,wss%3A%2F%2Fb.example%2Fws",
            "?debug=1&ws=wss://a.example:8443/ws&ws=wss://b.example/ws",
            "?ws=wss://a.example:8443/ws,,%20wss://b.example/ws,",
        ] {
            assert_eq!(from_query(search), Some(want.clone()), "{search}");
        }
        assert_eq!(from_query("?ws=wss://a/ws&ws=%E0%A4"), None, "not UTF-8");
        assert_eq!(from_query("?ws=wss://a/ws%2"), None, "a cut escape");
        assert_eq!(from_query("?ws=a+b"), Some(vec!["a+b".into()]), "+ stays, as in JS");
        let many = vec!["wss://n/ws"; MAX_GATEWAYS + 3].join(",");
        assert_eq!(from_query(&format!("?ws={many}")).map(|l| l.len()), Some(MAX_GATEWAYS));
    }

    #[test]
    fn gateways_are_named_by_host_and_port() {
        assert_eq!(label("wss://b.example:8443/ws"), "b.example:8443");
        assert_eq!(label("wss://b.example"), "b.example");
        assert_eq!(label("wss://[::1]:8443/ws?x#y"), "[::1]:8443");
        assert_eq!(label("junk"), "junk");
    }

    /// The URL each attempt opens and the wait after it, for `ends` in turn.
    fn trace(g: &mut Gateways, ends: &[Ended]) -> Vec<(String, u32)> {
        ends.iter().map(|&e| (label(g.url()).to_owned(), g.after(e))).collect()
    }

    fn pair(host: &str, wait: u32) -> (String, u32) {
        (host.to_owned(), wait)
    }

    #[test]
    fn failures_move_on_at_once_and_wait_once_per_round() {
        let mut g = Gateways::for_page("?ws=wss://a/ws,wss://b/ws,wss://c/ws", own);
        assert_eq!(g.shown().as_deref(), Some("a"));
        let t = trace(&mut g, &[Ended::Failed; 7]);
        let want = [
            pair("a", 0),
            pair("b", 0),
            pair("c", FIRST_BACKOFF_MS),
            pair("a", 0),
            pair("b", 0),
            pair("c", 2 * FIRST_BACKOFF_MS),
            pair("a", 0),
        ];
        assert_eq!(t, want);
    }

    #[test]
    fn after_a_drop_the_next_gateway_comes_first_after_the_shortest_pause() {
        let mut g = Gateways::for_page("?ws=wss://a/ws,wss://b/ws,wss://c/ws", own);
        g.after(Ended::Failed); // a is down
        assert_eq!(label(g.url()), "b");
        g.logged_in();
        // b drops: the pause, then c first and b last
        let t = trace(&mut g, &[Ended::Dropped, Ended::Failed, Ended::Failed, Ended::Failed]);
        let want = [
            pair("b", FIRST_BACKOFF_MS),
            pair("c", 0),
            pair("a", 0),
            pair("b", 2 * FIRST_BACKOFF_MS),
        ];
        assert_eq!(t, want);
        // leaving on purpose reconnects at once to the same gateway
        assert_eq!(trace(&mut g, &[Ended::Left]), [pair("c", 0)]);
        assert_eq!(label(g.url()), "c");
    }

    #[test]
    fn one_gateway_waits_after_every_failure_as_before() {
        let mut g = Gateways::for_page("", own);
        let waits: Vec<u32> = [Ended::Failed, Ended::Dropped, Ended::Failed]
            .into_iter()
            .map(|e| g.after(e))
            .collect();
        assert_eq!(waits, [500, 1000, 2000]);
        assert_eq!(g.url(), "wss://page.example/ws");
    }
}
