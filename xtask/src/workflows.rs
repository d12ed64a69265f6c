//! Checks of `.github/workflows/`: every `cargo xtask` command a workflow runs parses with the
//! flags it passes, and every action is pinned by full commit SHA with its tag in a comment.
//! The workflows only wire commands; these tests keep them from calling what does not exist.

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser as _;

    use crate::cli::Cli;

    /// `(file, text)` of every workflow.
    fn workflows() -> Vec<(String, String)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".github")
            .join("workflows");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("the workflows directory")
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .map(|path| {
                (
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&path).expect("a workflow"),
                )
            })
            .collect();
        files.sort();
        assert!(files.len() >= 5, "ci, deploy, preview, cleanup, security");
        files
    }

    /// The `cargo xtask ...` invocations of a workflow's `run:` steps, as argument lists
    /// (`"$VAR"` stands for a value the step's `env:` gives: a sample number here).
    fn xtask_commands(text: &str) -> Vec<Vec<String>> {
        let workflow: serde_yaml::Value = serde_yaml::from_str(text).expect("YAML");
        let mut commands = Vec::new();
        for (_, job) in workflow["jobs"].as_mapping().expect("jobs") {
            for step in job["steps"].as_sequence().into_iter().flatten() {
                let Some(run) = step["run"].as_str() else {
                    continue;
                };
                for line in run.lines() {
                    let Some(rest) = line.trim().strip_prefix("cargo xtask ") else {
                        continue;
                    };
                    let mut args = vec!["cargo xtask".to_owned()];
                    args.extend(rest.split_whitespace().map(|word| {
                        let word = word.trim_matches('"');
                        if word.starts_with('$') {
                            "7".to_owned()
                        } else {
                            word.to_owned()
                        }
                    }));
                    commands.push(args);
                }
            }
        }
        commands
    }

    #[test]
    fn every_command_a_workflow_runs_exists_with_its_flags() {
        let mut seen = 0;
        for (file, text) in workflows() {
            for args in xtask_commands(&text) {
                if let Err(error) = Cli::try_parse_from(&args) {
                    panic!("{file}: `{}` does not parse:\n{error}", args.join(" "));
                }
                seen += 1;
            }
        }
        assert!(seen >= 10, "only {seen} commands found");
    }

    #[test]
    fn a_command_that_does_not_exist_is_caught() {
        let text = "jobs:\n  a:\n    steps:\n      - run: cargo xtask preview up --pr \"$PR\" --from staging --made-up\n";
        let commands = xtask_commands(text);
        assert_eq!(commands.len(), 1);
        assert!(Cli::try_parse_from(&commands[0]).is_err());
    }

    #[test]
    fn every_action_is_pinned_by_commit_with_its_tag() {
        for (file, text) in workflows() {
            for line in text.lines() {
                let Some(used) = line
                    .trim()
                    .strip_prefix("- uses: ")
                    .or_else(|| line.trim().strip_prefix("uses: "))
                else {
                    continue;
                };
                let (action, rest) = used
                    .split_once('@')
                    .unwrap_or_else(|| panic!("{file}: `{used}` names no version"));
                let (sha, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{file}: {action} is not pinned by a full commit SHA: {rest}"
                );
                assert!(
                    comment.starts_with('v'),
                    "{file}: {action}@{sha} has no `# vX.Y.Z` comment"
                );
            }
        }
    }

    #[test]
    fn no_workflow_runs_pull_request_target_and_each_drops_default_permissions() {
        for (file, text) in workflows() {
            let workflow: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
            assert!(
                workflow["on"].get("pull_request_target").is_none(),
                "{file}: pull_request_target gives forks' code the repository's secrets"
            );
            assert!(
                workflow.get("permissions").is_some(),
                "{file}: no top-level permissions (the default token may write)"
            );
        }
    }
}
