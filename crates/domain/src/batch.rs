//! Rows as the distributed map hands them over: JSON objects keyed by the file's header names,
//! batched by `ItemBatcher`, each with its item index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codes::ErrorCode;
use crate::reader::{Column, Problem};
use crate::rules::Counts;
use crate::values::{Count, UserId};

/// One item of a batch: `ItemSelector` gives `{"index": $$.Map.Item.Index, "row": $$.Map.Item.Value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapItem {
    /// The data row's index in the file (0-based; the header is not an item).
    pub index: u64,
    /// The row, keyed by the header's column names.
    pub row: BTreeMap<String, String>,
}

/// A parsed map row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRow {
    pub line: Option<u64>,
    pub user_id: UserId,
    pub counts: Counts,
}

impl MapItem {
    /// The physical line of the item when every record of the file sits on one line.
    pub fn line(&self, lines_match_records: bool) -> Option<u64> {
        lines_match_records.then_some(self.index + 2)
    }

    /// Whether the item is a blank line of the file: every value empty. The validator reads a blank
    /// line as no record, and AWS does not document whether its CSV reader hands one over as an
    /// item, so such an item carries no data either.
    pub fn is_blank(&self) -> bool {
        self.row.values().all(|value| value.is_empty())
    }

    /// Reads the row's values by column, whatever language or order the header had.
    pub fn parse(&self, lines_match_records: bool) -> Result<MapRow, Problem> {
        let line = self.line(lines_match_records);
        let problem = |code, message: String| Problem::new(line.unwrap_or(0), None, code, message);
        let field = |column: Column| {
            self.row
                .iter()
                .find(|(name, _)| Column::from_header_name(name) == Some(column))
                .map(|(_, value)| value.as_str())
                .ok_or_else(|| {
                    problem(
                        ErrorCode::MissingColumn,
                        format!("the item has no `{column}` value"),
                    )
                })
        };
        let user_id = UserId::parse(field(Column::UserId)?)
            .map_err(|err| problem(ErrorCode::BadUserId, err.to_string()))?;
        let count = |column: Column| {
            Count::parse(field(column)?)
                .map_err(|err| problem(ErrorCode::BadCount, format!("{column}: {err}")))
        };
        let counts = Counts {
            login_count: count(Column::LoginCount)?,
            post_count: count(Column::PostCount)?,
        };
        Ok(MapRow {
            line,
            user_id,
            counts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(index: u64, pairs: &[(&str, &str)]) -> MapItem {
        MapItem {
            index,
            row: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn items_read_by_header_name_in_either_language() {
        let japanese = item(
            0,
            &[
                ("\u{feff}ユーザーID", "U1"),
                ("ログイン回数", "3"),
                ("投稿回数", "4"),
            ],
        );
        let row = japanese.parse(true).unwrap();
        assert_eq!(
            (row.line, row.user_id.as_str(), row.counts.login_count.get()),
            (Some(2), "U1", 3)
        );
        let english = item(
            5,
            &[("post_count", "4"), ("user_id", "U2"), ("login_count", "3")],
        );
        assert_eq!(english.parse(false).unwrap().line, None);
        let bad = item(
            1,
            &[("user_id", "U2"), ("login_count", "x"), ("post_count", "1")],
        );
        assert_eq!(
            bad.parse(true).unwrap_err().to_string(),
            "3: BadCount login_count: `x` is not a whole number"
        );
    }

    #[test]
    fn an_item_of_empty_values_is_a_blank_line() {
        let blank = item(
            2,
            &[("user_id", ""), ("login_count", ""), ("post_count", "")],
        );
        assert!(blank.is_blank());
        assert!(!item(2, &[("user_id", "U1"), ("login_count", "")]).is_blank());
    }
}
