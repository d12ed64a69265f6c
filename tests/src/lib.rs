//! What the end-to-end tests share: where the repository is, and the `cargo xtask` binary they run
//! (built once per test process with the cargo that runs the tests, into the same target directory).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the repository")
        .to_path_buf()
}

/// The `xtask` binary of this checkout, built on first use (`cargo build -p xtask`) next to the
/// test executables, so the tests run exactly what `cargo xtask` runs.
pub fn xtask_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "xtask", "--bin", "xtask"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p xtask failed");
        let test_executable = std::env::current_exe().expect("the test executable has a path");
        // `<target>/<profile>/deps/<test>`: the binary is `<target>/<profile>/xtask`.
        let profile_dir = test_executable
            .parent()
            .and_then(Path::parent)
            .expect("the test executable is under <target>/<profile>/deps");
        let binary = profile_dir.join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
        assert!(binary.is_file(), "{} was not built", binary.display());
        binary
    })
}
