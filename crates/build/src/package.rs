//! Reproducible Lambda zips: one executable entry named `bootstrap`, and the zip's content hash.
//!
//! The same executable always gives byte-identical zip bytes: the entry's time is fixed at the zip
//! format's epoch (1980-01-01 00:00:00), its mode at 0755 with the Unix file type, the compression
//! method and level are fixed, and no extra fields, comments or data descriptors are written. So
//! the zip's SHA-256 changes exactly when the executable does, and an upload keyed by that hash
//! lets CloudFormation see a change only when the code changed.

use std::io::{Cursor, Write as _};

use sha2::{Digest as _, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

use crate::error::BuildError;

/// The name the `provided.*` Lambda runtimes run.
pub const ENTRY_NAME: &str = "bootstrap";

/// The entry's permissions: executable by everyone, writable by the owner.
pub const ENTRY_MODE: u32 = 0o755;

/// The deflate level: the smallest output; the zip is made once per build and uploaded often.
const DEFLATE_LEVEL: i64 = 9;

/// How many hex digits of the hash a content-hashed file name carries.
pub const SHORT_HASH_LEN: usize = 12;

/// A zip holding `executable` as its only entry, `bootstrap`, mode 0755, deflated.
pub fn zip_bootstrap(executable: &[u8]) -> Result<Vec<u8>, BuildError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL))
        .last_modified_time(DateTime::default())
        .system(System::Unix)
        .unix_permissions(ENTRY_MODE)
        .large_file(false);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file(ENTRY_NAME, options)?;
    writer
        .write_all(executable)
        .map_err(zip::result::ZipError::Io)?;
    Ok(writer.finish()?.into_inner())
}

/// The executable of a Lambda zip: its `bootstrap` entry.
pub fn unzip_bootstrap(zip: &[u8]) -> Result<Vec<u8>, BuildError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))?;
    let mut entry = archive.by_name(ENTRY_NAME)?;
    let mut executable = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut executable).map_err(zip::result::ZipError::Io)?;
    Ok(executable)
}

/// The SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content-hashed file name of a function's zip: `<function>-<first 12 hex digits>.zip`.
pub fn hashed_zip_name(function: &str, sha256: &str) -> String {
    let short = sha256.get(..SHORT_HASH_LEN).unwrap_or(sha256);
    format!("{function}-{short}.zip")
}

/// Whether `file_name` is a content-hashed zip of `function` (any hash), as [`hashed_zip_name`] makes.
pub fn is_hashed_zip_of(function: &str, file_name: &str) -> bool {
    let Some(short) = file_name
        .strip_prefix(function)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(".zip"))
    else {
        return false;
    };
    short.len() == SHORT_HASH_LEN
        && short
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// The plain file name of a function's zip: `<function>.zip`.
pub fn zip_name(function: &str) -> String {
    format!("{function}.zip")
}

/// The key of a function's zip in the artifacts bucket: `functions/<function>/<sha256>.zip`.
pub fn s3_key(function: &str, sha256: &str) -> String {
    format!("functions/{function}/{sha256}.zip")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_comes_back_out_of_its_zip() {
        let executable = b"\x7fELF and the rest".to_vec();
        let zip = zip_bootstrap(&executable).expect("a zip");
        assert_eq!(unzip_bootstrap(&zip).expect("its bootstrap"), executable);
        assert!(unzip_bootstrap(b"not a zip").is_err());
    }

    #[test]
    fn names_carry_the_function_and_the_hash() {
        let sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(zip_name("validate-csv"), "validate-csv.zip");
        assert_eq!(
            hashed_zip_name("validate-csv", sha256),
            "validate-csv-0123456789ab.zip"
        );
        assert_eq!(
            s3_key("validate-csv", sha256),
            format!("functions/validate-csv/{sha256}.zip")
        );
    }

    #[test]
    fn hashed_names_are_recognised_only_for_their_own_function() {
        assert!(is_hashed_zip_of("import", "import-0123456789ab.zip"));
        assert!(!is_hashed_zip_of("import", "import-csv-0123456789ab.zip"));
        assert!(!is_hashed_zip_of("import", "import-csv.zip"));
        assert!(!is_hashed_zip_of("import", "import.zip"));
        assert!(!is_hashed_zip_of("import", "import-0123456789AB.zip"));
        assert!(!is_hashed_zip_of("import", "import-0123456789a.zip"));
        assert!(!is_hashed_zip_of("import-csv", "import-0123456789ab.zip"));
    }

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
