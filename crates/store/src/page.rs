use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// A page request: at most `limit` rows after the opaque `cursor`.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: u64,
}

pub const MAX_PAGE: u64 = 200;
pub const DEFAULT_PAGE: u64 = 50;

impl PageRequest {
    /// Build from the API's `cursor` and `limit` query values. A cursor that
    /// does not decode is an error, never silently the first page.
    pub fn parse(cursor: Option<&str>, limit: Option<u64>) -> Result<Self, InvalidCursor> {
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or(InvalidCursor)?),
        };
        Ok(Self {
            after,
            limit: limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
        })
    }

    pub fn first(limit: u64) -> Self {
        Self { after: None, limit }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the cursor is not one this API issued")]
pub struct InvalidCursor;

/// A page of results and the cursor of the next page, if there is one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1`; the extra row, if any, only says
    /// that another page exists.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: u64, key: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(key(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(c: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        let p = PageRequest::parse(Some(&encode_cursor(id)), Some(10)).unwrap();
        assert_eq!(p.after, Some(id));
        assert!(PageRequest::parse(Some("!!"), None).is_err());
        assert!(PageRequest::parse(Some("AAAA"), None).is_err());
        assert_eq!(
            PageRequest::parse(None, Some(100_000)).unwrap().limit,
            MAX_PAGE
        );
        assert_eq!(PageRequest::parse(None, Some(0)).unwrap().limit, 1);
    }

    #[test]
    fn next_cursor_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let p = Page::from_rows(ids.clone(), 2, |u| *u);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.next_cursor, Some(encode_cursor(ids[1])));
        let p = Page::from_rows(ids[..2].to_vec(), 2, |u| *u);
        assert_eq!(p.next_cursor, None);
    }
}
