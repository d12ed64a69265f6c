//! The opaque cursors of the lists: where the next page starts, as URL-safe base64 of a small
//! JSON document that names its list, so that a cursor of one list (or one user) is refused by
//! another instead of being misread.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The longest cursor accepted; anything longer was not made here.
pub const MAX_CURSOR_CHARS: usize = 512;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "list", rename_all = "camelCase")]
pub enum Cursor {
    /// `GET /imports`: the imports older (by id) than this one.
    #[serde(rename_all = "camelCase")]
    Imports { before_import_id: i64 },
    /// `GET /users/{userId}/history`: the changes of this user after this index key.
    #[serde(rename_all = "camelCase")]
    History {
        user_id: String,
        timestamp: String,
        execution_name: String,
    },
}

/// A cursor that was not handed out by this API, or not for this list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this list handed out")]
pub struct BadCursor;

impl Cursor {
    /// The text a client passes back as `cursor`.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a cursor's text.
    pub fn decode(text: &str) -> Result<Cursor, BadCursor> {
        if text.is_empty() || text.len() > MAX_CURSOR_CHARS {
            return Err(BadCursor);
        }
        let json = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        serde_json::from_slice(&json).map_err(|_| BadCursor)
    }

    /// The import id an imports cursor starts before.
    pub fn imports(text: &str) -> Result<i64, BadCursor> {
        match Cursor::decode(text)? {
            Cursor::Imports { before_import_id } => Ok(before_import_id),
            Cursor::History { .. } => Err(BadCursor),
        }
    }

    /// The `(timestamp, execution name)` a history cursor of `user_id` starts after.
    pub fn history(text: &str, user_id: &str) -> Result<(String, String), BadCursor> {
        match Cursor::decode(text)? {
            Cursor::History {
                user_id: owner,
                timestamp,
                execution_name,
            } if owner == user_id => Ok((timestamp, execution_name)),
            _ => Err(BadCursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_in_their_list() {
        let imports = Cursor::Imports {
            before_import_id: 42,
        }
        .encode();
        assert_eq!(Cursor::imports(&imports), Ok(42));
        assert_eq!(Cursor::history(&imports, "U1"), Err(BadCursor));

        let history = Cursor::History {
            user_id: "U1".into(),
            timestamp: "2026-11-02T00:00:00.000001Z#U1".into(),
            execution_name: "e1".into(),
        }
        .encode();
        assert_eq!(
            Cursor::history(&history, "U1"),
            Ok(("2026-11-02T00:00:00.000001Z#U1".into(), "e1".into()))
        );
        assert_eq!(Cursor::history(&history, "U2"), Err(BadCursor));
        assert_eq!(Cursor::imports(&history), Err(BadCursor));

        for bad in ["", "not base64!", "bm90IGpzb24", &"A".repeat(600)] {
            assert_eq!(Cursor::decode(bad), Err(BadCursor), "{bad}");
        }
    }
}
