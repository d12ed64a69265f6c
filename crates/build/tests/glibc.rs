//! The glibc check on real executables: this test's own executable and a small committed fixture.

use std::path::Path;

use expect_test::{Expect, expect};
use userlog_build::artifact;
use userlog_build::glibc::{self, AL2023_GLIBC, VersionNeed};

/// An executable built from `fixtures/needs-glibc-2.36.c` (the command is in that file).
const NEEDS_GLIBC_2_36: &str = "tests/fixtures/needs-glibc-2.36.elf";

fn fixture(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Shows the needs one per line: `libc.so.6 GLIBC_2.34: __libc_start_main`.
fn check_needs(needs: &[VersionNeed], expected: &Expect) {
    let shown: Vec<String> = needs
        .iter()
        .map(|need| {
            format!(
                "{} {}: {}",
                need.library,
                need.version,
                need.symbols.join(", ")
            )
        })
        .collect();
    expected.assert_eq(&shown.join("\n"));
}

#[test]
fn the_fixture_needs_are_read_with_their_symbols() {
    let needs =
        glibc::version_needs(&fixture(NEEDS_GLIBC_2_36)).expect("the fixture is an ELF executable");
    check_needs(
        &needs,
        &expect![[r#"
            libc.so.6 GLIBC_2.2.5: __cxa_finalize, printf
            libc.so.6 GLIBC_2.34: __libc_start_main
            libc.so.6 GLIBC_2.36: arc4random"#]],
    );
    let report = glibc::check(&needs, AL2023_GLIBC);
    assert_eq!(
        report.highest.map(|version| version.to_string()).as_deref(),
        Some("2.36")
    );
    assert!(!report.is_compatible());
}

#[test]
fn an_executable_that_needs_a_newer_glibc_is_not_packaged() {
    let err = artifact::prepare("validate-csv", &fixture(NEEDS_GLIBC_2_36), AL2023_GLIBC)
        .expect_err("2.36 is newer than 2.34");
    expect![[r#"
        validate-csv needs a newer glibc than the Lambda runtime's 2.34:
        GLIBC_2.36 (libc.so.6): arc4random"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn the_same_executable_passes_under_a_higher_limit() {
    let prepared = artifact::prepare(
        "validate-csv",
        &fixture(NEEDS_GLIBC_2_36),
        "2.36".parse().expect("a version"),
    )
    .expect("2.36 is within 2.36");
    assert_eq!(
        prepared
            .artifact
            .max_glibc
            .map(|version| version.to_string())
            .as_deref(),
        Some("2.36")
    );
}

#[test]
fn the_running_test_executable_needs_some_glibc_version() {
    let path = std::env::current_exe().expect("the test knows its executable");
    let executable = std::fs::read(&path).expect("the test can read its executable");
    let needs = glibc::version_needs(&executable).expect("the test executable is an ELF file");
    let glibc_needs: Vec<&VersionNeed> = needs.iter().filter(|need| need.is_glibc()).collect();
    assert!(
        !glibc_needs.is_empty(),
        "no GLIBC_* requirement found in {needs:?}"
    );
    assert!(
        glibc_needs
            .iter()
            .all(|need| need.version.starts_with("GLIBC_"))
    );
    assert!(
        glibc_needs
            .iter()
            .any(|need| need.symbols.iter().any(|symbol| !symbol.is_empty()))
    );
    let report = glibc::check(&needs, AL2023_GLIBC);
    assert!(
        report.highest.is_some(),
        "no numbered glibc version among {glibc_needs:?}"
    );
}

#[test]
fn a_file_that_is_not_elf_is_rejected() {
    let err =
        glibc::version_needs(b"#!/bin/sh\necho bootstrap\n").expect_err("a script is not ELF");
    assert!(
        matches!(
            err,
            userlog_build::BuildError::NotElf | userlog_build::BuildError::Elf(_)
        ),
        "{err}"
    );
}
