//! Full-text search (extension `search`): reading a query into terms, and the bounds of what
//! one user may find. The stores run it: SQLite with FTS5, PostgreSQL with its text search.
//!
//! A query is words and `"quoted phrases"`; a message matches when it holds every one (a
//! phrase as its words in that order). Case and accents do not matter; words match whole
//! (no stemming, no prefixes), alike in both stores. The query is never handed to the search
//! engine's own syntax: each term is quoted, so no input can make it fail.

use shared::limits::{MAX_QUERY_CHARS, MAX_QUERY_TERMS};

/// Why a query cannot be searched. Each message quotes the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Over [`MAX_QUERY_CHARS`].
    #[error("Search: the query is longer than {MAX_QUERY_CHARS} characters.")]
    TooLong,
    /// A `"` with no closing one.
    #[error("Search: the query {0:?} has a quote (\") that is not closed.")]
    Unclosed(String),
    /// No word in it.
    #[error("Search: the query {0:?} has no word to look for.")]
    Empty(String),
    /// Over [`MAX_QUERY_TERMS`] words and phrases.
    #[error("Search: the query {0:?} has more than {MAX_QUERY_TERMS} words and phrases.")]
    TooMany(String),
}

/// The terms of `query`: each bare word, and each quoted phrase, in order. A term without a
/// letter or digit is left out (the index holds none).
pub fn terms(query: &str) -> Result<Vec<String>, QueryError> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    if query.matches('"').count() % 2 == 1 {
        return Err(QueryError::Unclosed(query.to_owned()));
    }
    let mut terms = Vec::new();
    // Between quotes (every second part) a phrase, outside them words.
    for (i, part) in query.split('"').enumerate() {
        if i % 2 == 1 {
            terms.push(part.split_whitespace().collect::<Vec<_>>().join(" "));
        } else {
            terms.extend(part.split_whitespace().map(str::to_owned));
        }
    }
    terms.retain(|t| t.chars().any(char::is_alphanumeric));
    if terms.is_empty() {
        return Err(QueryError::Empty(query.to_owned()));
    }
    if terms.len() > MAX_QUERY_TERMS {
        return Err(QueryError::TooMany(query.to_owned()));
    }
    Ok(terms)
}

/// The terms as an FTS5 query: each a quoted string (a phrase), all required.
pub fn fts5(terms: &[String]) -> String {
    terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" ")
}

/// What one user may find, and the filters of the request.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The user's name: private messages to or from it.
    pub user: String,
    /// Private messages only with ids above this (where the user's claim to the name began).
    pub since: i64,
    /// The rooms the user is in.
    pub rooms: Vec<String>,
    /// Keys of names in a block with the user (either way): none of their messages.
    pub hidden: Vec<String>,
    /// Only in this place: `ALL` (the main room) or a room of the user's.
    pub place: Option<String>,
    /// Only from the name with this key.
    pub from_key: Option<String>,
    /// Only at or after this time.
    pub after: Option<i64>,
    /// Only before this time.
    pub before: Option<i64>,
    /// Only ids below this (the next page).
    pub older_than: Option<i64>,
}

/// A value of a search's statement, for the store to bind as its driver takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A text.
    Text(String),
    /// An integer.
    Int(i64),
}

/// The columns (or expressions) a store's search statement filters on.
#[derive(Debug, Clone, Copy)]
pub struct FilterColumns {
    /// DEST.
    pub dest: &'static str,
    /// The room of a room's message.
    pub room: &'static str,
    /// The key of the sender's name.
    pub sender_key: &'static str,
    /// The time.
    pub ts: &'static str,
}

impl Scope {
    /// The request's filters as conditions (each beginning with ` AND`) on `columns`; `arg`
    /// binds a value and gives its placeholder.
    pub fn filters(&self, columns: FilterColumns, arg: &mut impl FnMut(Arg) -> String) -> String {
        let FilterColumns { dest, room, sender_key, ts } = columns;
        let mut sql = String::new();
        match self.place.as_deref() {
            Some(shared::BROADCAST) => sql += &format!(" AND {dest} = 'ALL'"),
            Some(place) => sql += &format!(" AND {room} = {}", arg(Arg::Text(place.to_owned()))),
            None => {}
        }
        if let Some(key) = &self.from_key {
            sql += &format!(" AND {sender_key} = {}", arg(Arg::Text(key.clone())));
        }
        if let Some(after) = self.after {
            sql += &format!(" AND {ts} >= {}", arg(Arg::Int(after)));
        }
        if let Some(before) = self.before {
            sql += &format!(" AND {ts} < {}", arg(Arg::Int(before)));
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(q: &str) -> Result<Vec<String>, QueryError> {
        terms(q)
    }

    #[test]
    fn words_and_phrases_become_terms_and_nothing_else_reaches_the_engine() {
        assert_eq!(t("rust  crab").unwrap(), ["rust", "crab"]);
        assert_eq!(t(r#"say "hello   world" now"#).unwrap(), ["say", "hello world", "now"]);
        // Engine operators are plain words once quoted.
        assert_eq!(fts5(&t("NOT a* OR (b) NEAR").unwrap()), r#""NOT" "a*" "OR" "(b)" "NEAR""#);
        assert_eq!(t("-- ! hi").unwrap(), ["hi"], "no word in -- or !");
    }

    #[test]
    fn a_bad_query_is_refused_with_the_query_quoted() {
        assert_eq!(t(r#"a "b"#), Err(QueryError::Unclosed(r#"a "b"#.into())));
        assert!(t(r#"a "b"#).unwrap_err().to_string().contains(r#""a \"b""#));
        assert_eq!(t(" ?! "), Err(QueryError::Empty(" ?! ".into())));
        assert_eq!(t(""), Err(QueryError::Empty(String::new())));
        assert_eq!(t(&"x".repeat(MAX_QUERY_CHARS + 1)), Err(QueryError::TooLong));
        let many = ["w"; MAX_QUERY_TERMS + 1].join(" ");
        assert_eq!(t(&many), Err(QueryError::TooMany(many.clone())));
        assert!(t(&["w"; MAX_QUERY_TERMS].join(" ")).is_ok());
    }
}
