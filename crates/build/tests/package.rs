//! Lambda zips: one `bootstrap` entry, mode 0755, byte-identical for the same executable.

use std::io::{Cursor, Read as _};

use userlog_build::package::{self, ENTRY_MODE, ENTRY_NAME};
use zip::ZipArchive;

/// What a zip holds, read back with the zip reader: one line per entry.
fn entries(zip: &[u8]) -> Vec<String> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).expect("a readable zip");
    assert!(archive.comment().is_empty(), "the zip has a comment");
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).expect("a readable entry");
            let mut content = Vec::new();
            entry
                .read_to_end(&mut content)
                .expect("the entry decompresses");
            format!(
                "{} mode {:o} {:?} {} bytes modified {} extra {:?}",
                entry.name().expect("a UTF-8 name"),
                entry.unix_mode().unwrap_or(0),
                entry.compression(),
                content.len(),
                entry
                    .last_modified()
                    .map(|time| time.to_string())
                    .unwrap_or_default(),
                entry.extra_data().unwrap_or_default(),
            )
        })
        .collect()
}

/// A stand-in executable: the packaging does not look inside it.
fn executable(seed: u8) -> Vec<u8> {
    (0..100_000u32)
        .map(|index| (index % 251) as u8 ^ seed)
        .collect()
}

#[test]
fn the_zip_holds_only_an_executable_bootstrap() {
    let zip = package::zip_bootstrap(&executable(0)).expect("zipped");
    assert_eq!(
        entries(&zip),
        [format!(
            "{ENTRY_NAME} mode 100755 Deflated 100000 bytes modified 1980-01-01 00:00:00 extra []"
        )]
    );
    assert_eq!(ENTRY_MODE, 0o755);
    let mut archive = ZipArchive::new(Cursor::new(&zip)).expect("a readable zip");
    let mut content = Vec::new();
    archive
        .by_name(ENTRY_NAME)
        .expect("bootstrap")
        .read_to_end(&mut content)
        .expect("decompresses");
    assert_eq!(content, executable(0));
}

#[test]
fn the_local_header_has_no_extra_field() {
    let zip = package::zip_bootstrap(&executable(0)).expect("zipped");
    // A local file header: signature, then at offset 26 the name length and at 28 the extra length.
    assert_eq!(&zip[..4], b"PK\x03\x04");
    let name_len = u16::from_le_bytes([zip[26], zip[27]]);
    let extra_len = u16::from_le_bytes([zip[28], zip[29]]);
    assert_eq!((name_len, extra_len), (ENTRY_NAME.len() as u16, 0));
    assert_eq!(&zip[30..30 + ENTRY_NAME.len()], ENTRY_NAME.as_bytes());
}

#[test]
fn the_same_executable_gives_the_same_bytes_and_hash() {
    let first = package::zip_bootstrap(&executable(0)).expect("zipped");
    let second = package::zip_bootstrap(&executable(0)).expect("zipped");
    assert_eq!(first, second);
    assert_eq!(package::sha256_hex(&first), package::sha256_hex(&second));
}

#[test]
fn a_different_executable_gives_a_different_hash() {
    let mut changed = executable(0);
    changed[50_000] ^= 1;
    let first = package::zip_bootstrap(&executable(0)).expect("zipped");
    let second = package::zip_bootstrap(&changed).expect("zipped");
    assert_ne!(package::sha256_hex(&first), package::sha256_hex(&second));
}

#[test]
fn an_empty_executable_still_makes_a_valid_zip() {
    let zip = package::zip_bootstrap(&[]).expect("zipped");
    assert_eq!(
        entries(&zip),
        [format!(
            "{ENTRY_NAME} mode 100755 Deflated 0 bytes modified 1980-01-01 00:00:00 extra []"
        )]
    );
}
