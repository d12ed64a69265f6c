//! The columns of the exported file, in file order, with their Parquet and Glue types.

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (`BYTE_ARRAY` annotated `STRING`; Glue `string`).
    Text,
    /// A 32-bit integer (`INT32`; Glue `int`).
    Int32,
    /// A 64-bit integer (`INT64`; Glue `bigint`).
    Int64,
    /// A point in time, microseconds since the epoch in UTC (`INT64` annotated
    /// `TIMESTAMP(MICROS, true)`; Glue `timestamp`).
    Timestamp,
}

impl Kind {
    /// The column type of the Glue table (Hive's names, as Athena reads them).
    pub fn glue_type(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::Int32 => "int",
            Kind::Int64 => "bigint",
            Kind::Timestamp => "timestamp",
        }
    }

    /// The column's type in Parquet's schema language.
    fn parquet_type(self) -> &'static str {
        match self {
            Kind::Text => "BYTE_ARRAY",
            Kind::Int32 => "INT32",
            Kind::Int64 | Kind::Timestamp => "INT64",
        }
    }

    /// The column's logical type annotation, if it has one.
    fn parquet_annotation(self) -> Option<&'static str> {
        match self {
            Kind::Text => Some("STRING"),
            Kind::Timestamp => Some("TIMESTAMP(MICROS,true)"),
            Kind::Int32 | Kind::Int64 => None,
        }
    }
}

/// One column of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name, the same in PostgreSQL, Parquet and Glue.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
}

/// Every column of the file, in the order the file has them. None is nullable: the table's
/// columns are all `NOT NULL`.
pub const COLUMNS: &[Column] = &[
    Column {
        name: "user_id",
        kind: Kind::Text,
    },
    Column {
        name: "username",
        kind: Kind::Text,
    },
    Column {
        name: "login_count",
        kind: Kind::Int32,
    },
    Column {
        name: "post_count",
        kind: Kind::Int32,
    },
    Column {
        name: "last_updated",
        kind: Kind::Timestamp,
    },
    // What the as-of guard keeps: the as-of time of the file that set the counts, and its import.
    Column {
        name: "as_of",
        kind: Kind::Timestamp,
    },
    Column {
        name: "import_id",
        kind: Kind::Int64,
    },
];

/// The name of the file's schema (its root group).
pub const SCHEMA_NAME: &str = "user_statistics";

/// The Parquet schema of [`COLUMNS`], in Parquet's message syntax.
pub fn parquet_message() -> String {
    let mut message = format!("message {SCHEMA_NAME} {{\n");
    for column in COLUMNS {
        let annotation = column
            .kind
            .parquet_annotation()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        message.push_str(&format!(
            "  REQUIRED {} {}{annotation};\n",
            column.kind.parquet_type(),
            column.name
        ));
    }
    message.push('}');
    message
}

/// `(name, Glue type)` of every column, for comparing with a Glue table definition.
pub fn glue_columns() -> Vec<(&'static str, &'static str)> {
    COLUMNS
        .iter()
        .map(|column| (column.name, column.kind.glue_type()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_lists_every_column_in_order() {
        assert_eq!(
            parquet_message(),
            "message user_statistics {
  REQUIRED BYTE_ARRAY user_id (STRING);
  REQUIRED BYTE_ARRAY username (STRING);
  REQUIRED INT32 login_count;
  REQUIRED INT32 post_count;
  REQUIRED INT64 last_updated (TIMESTAMP(MICROS,true));
  REQUIRED INT64 as_of (TIMESTAMP(MICROS,true));
  REQUIRED INT64 import_id;
}"
        );
    }

    #[test]
    fn glue_types_follow_the_kinds() {
        assert_eq!(
            glue_columns(),
            vec![
                ("user_id", "string"),
                ("username", "string"),
                ("login_count", "int"),
                ("post_count", "int"),
                ("last_updated", "timestamp"),
                ("as_of", "timestamp"),
                ("import_id", "bigint"),
            ]
        );
    }
}
