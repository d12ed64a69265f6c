//! The domain of the import pipeline: CSV reading, validation and the rules of an import. No AWS, no database.
//!
//! Everything here is a pure function of its input or streams through `std::io::Read`, so the
//! Lambda functions, the ECS task and the command line all share it and test it without a cloud.

pub mod backoff;
pub mod batch;
pub mod codes;
pub mod encoding;
pub mod errors;
pub mod limits;
pub mod reader;
pub mod records;
pub mod report;
pub mod rules;
mod tokenizer;
pub mod validate;
pub mod values;

pub use codes::{ErrorCode, Severity};
pub use encoding::{Encoding, EncodingChoice};
pub use reader::{Column, CsvReader, Problem, ReadError, ReadOptions, Row};
pub use values::{Count, FieldText, UserId};
