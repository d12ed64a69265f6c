//! The import task's image end to end: `cargo xtask build` writes it, `cargo xtask push-image`
//! pushes it to a real OCI registry on loopback (the reference distribution registry, Debian's
//! `docker-registry`), skopeo pulls it back by digest, and its entrypoint runs from the pulled
//! image's own files (chrooted into them: a binary that needed the build machine's libraries
//! could not start there).

use std::path::Path;
use std::process::{Command, Stdio};

use userlog_e2e::root;

/// A registry on a free loopback port, storing under `dir`; stopped when dropped.
struct LocalRegistry {
    child: std::process::Child,
    host: String,
}

impl LocalRegistry {
    fn start(dir: &Path) -> LocalRegistry {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("an address").port()
        };
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("storage").display()
            ),
        )
        .expect("the registry's config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "docker-registry starts (`cargo xtask test` installs Debian's docker-registry)",
            );
        let host = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "the registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        LocalRegistry { child, host }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn xtask(args: &[&str]) -> std::process::Output {
    let output = Command::new(userlog_e2e::xtask_binary())
        .args(args)
        .current_dir(root())
        .output()
        .expect("xtask runs");
    assert!(
        output.status.success(),
        "`cargo xtask {}` failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_image_pushes_pulls_back_by_digest_and_runs_from_its_own_files() {
    let scratch = root().join(".local").join("e2e-image");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).expect("the old scratch files go");
    }
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let built = scratch.join("build");
    let built_text = built.to_string_lossy().into_owned();
    xtask(&["build", "--function", "import-csv", "--out", &built_text]);
    let layout_dir = built.join("images").join("import-csv");
    let layout = userlog_image::Layout::read(&layout_dir).expect("the build wrote an OCI layout");

    // Reproducible: building the same binary's image again gives the same digest.
    let again = scratch.join("again");
    xtask(&[
        "build",
        "--function",
        "import-csv",
        "--out",
        &again.to_string_lossy(),
    ]);
    let again =
        userlog_image::Layout::read(&again.join("images").join("import-csv")).expect("a layout");
    assert_eq!(
        again.image.digest(),
        layout.image.digest(),
        "the same binary, the same image"
    );

    let registry = LocalRegistry::start(&scratch);
    let reference = format!("{}/userlog/import-csv:e2e", registry.host);
    let layout_text = layout_dir.to_string_lossy().into_owned();
    let push = || -> serde_json::Value {
        let args = [
            "push-image",
            "--registry",
            &reference,
            "--insecure",
            "--image",
            &layout_text,
            "--json",
        ];
        serde_json::from_slice(&xtask(&args).stdout).expect("a summary")
    };
    let pushed = push();
    assert_eq!(pushed["digest"], layout.image.digest());
    assert_eq!(
        pushed["uploaded"].as_array().map(Vec::len),
        Some(2),
        "config and layer"
    );
    // A second push finds every blob there.
    let again = push();
    assert_eq!(
        again["uploaded"].as_array().map(Vec::len),
        Some(0),
        "{again:#}"
    );

    // Pulled back by digest with an independent client.
    let pulled = scratch.join("pulled");
    let by_digest = format!(
        "docker://{}/userlog/import-csv@{}",
        registry.host,
        layout.image.digest()
    );
    let status = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", &by_digest])
        .arg(format!("oci:{}:pulled", pulled.display()))
        .status()
        .expect("skopeo runs (`cargo xtask test` installs Debian's skopeo)");
    assert!(status.success(), "skopeo copy by digest");
    let pulled = userlog_image::Layout::read(&pulled).expect("skopeo wrote an OCI layout");
    assert_eq!(
        pulled.image.digest(),
        layout.image.digest(),
        "the very image"
    );

    // Its entrypoint runs from the pulled image's files alone.
    let rootfs = scratch.join("rootfs");
    pulled.unpack(&rootfs).expect("the image unpacks");
    let run = pulled.run_config().expect("a config");
    assert_eq!(run.user, "65532:65532", "not root");
    // The program is found on this process's PATH: the child's environment is emptied.
    let chroot = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join("chroot"))
        .find(|path| path.is_file())
        .expect("chroot (coreutils)");
    let output = Command::new(chroot)
        .arg(&rootfs)
        .args(&run.entrypoint)
        .env_clear()
        .output()
        .expect("chroot runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.status.code(),
        Some(2),
        "it ran and said it has no job: {printed}"
    );
    assert!(
        printed.contains("reading the task's environment"),
        "{printed}"
    );
    std::fs::remove_dir_all(&scratch).expect("the scratch files go");
}
