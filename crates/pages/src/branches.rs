//! Branches and what belongs to them: the production branch, the branch of a pull request's
//! preview (`pr-<N>`), the alias a branch's newest deployment is served under
//! (`https://<alias>.<project subdomain>`), and which deployments of a listing a removal may
//! delete: only preview deployments, only of the branch named. Pure.

use std::collections::BTreeMap;

use crate::{Deployment, Environment, PagesError};

/// The production branch of every project this crate creates.
pub const PRODUCTION_BRANCH: &str = "main";

/// The longest branch alias Pages serves; longer aliases are cut.
pub const MAX_ALIAS: usize = 28;

/// The longest branch name this crate sends.
const MAX_BRANCH: usize = 255;

/// The branch a pull request's preview deploys from.
pub fn pr_branch(number: u32) -> String {
    format!("pr-{number}")
}

/// The pull request a preview branch belongs to: `pr-<N>` with `N` a number from 1 without
/// leading zeros; `None` for any other branch.
pub fn pr_number(branch: &str) -> Option<u32> {
    let digits = branch.strip_prefix("pr-")?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The alias Pages serves a branch's newest deployment under: the name in lower case, every
/// character but letters, digits and `-` turned into `-`, no `-` at either end, cut to
/// [`MAX_ALIAS`] characters. `None` when nothing is left (Pages then makes up a random one).
pub fn branch_alias(branch: &str) -> Option<String> {
    let normalised: String = branch
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = normalised.trim_matches('-');
    if trimmed.is_empty() {
        return None;
    }
    Some(trimmed.chars().take(MAX_ALIAS).collect())
}

/// The URL that follows `branch` in a project served at `subdomain` (`dashboard.pages.dev`):
/// the project's own for a production deployment, the branch alias's for a preview.
pub fn branch_url(subdomain: &str, environment: &Environment, branch: &str) -> Option<String> {
    match environment {
        Environment::Production => Some(format!("https://{subdomain}")),
        _ => branch_alias(branch).map(|alias| format!("https://{alias}.{subdomain}")),
    }
}

/// Whether `branch` is one this crate deploys: not empty, no spaces or control characters, at
/// most 255 bytes.
pub fn check_branch(branch: &str) -> Result<(), PagesError> {
    let ok = !branch.is_empty()
        && branch.len() <= MAX_BRANCH
        && !branch.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(PagesError::Refused(format!(
            "the branch `{}` is not a branch name (1 to {MAX_BRANCH} bytes, no spaces or control characters)",
            branch.escape_debug()
        )))
    }
}

/// Whether the deployments of `branch` may be removed: a valid branch, never production's.
pub fn check_deletable_branch(branch: &str) -> Result<(), PagesError> {
    check_branch(branch)?;
    if branch == PRODUCTION_BRANCH {
        return Err(PagesError::Refused(format!(
            "the deployments of `{PRODUCTION_BRANCH}` are production's: only preview branches are removed"
        )));
    }
    Ok(())
}

/// The ids of the deployments in `listed` that a removal of `branch` deletes: preview
/// deployments of exactly that branch, in the listing's order. Never a production deployment
/// (whatever its branch), never one of an environment Cloudflare may add later, never one of
/// another branch (`pr-70` is not `pr-7`).
pub fn deletable(listed: &[Deployment], branch: &str) -> Vec<String> {
    if branch.is_empty() || branch == PRODUCTION_BRANCH {
        return Vec::new();
    }
    listed
        .iter()
        .filter(|d| d.environment == Environment::Preview && d.branch == branch)
        .map(|d| d.id.clone())
        .collect()
}

/// The preview deployments of `listed` by the pull request their branch names (`pr-<N>`), for a
/// sweep that removes those of closed pull requests. Deployments of other branches and every
/// production deployment are left out.
pub fn previews_by_pr(listed: &[Deployment]) -> BTreeMap<u32, Vec<&Deployment>> {
    let mut by_pr: BTreeMap<u32, Vec<&Deployment>> = BTreeMap::new();
    for deployment in listed {
        if deployment.environment != Environment::Preview {
            continue;
        }
        if let Some(number) = pr_number(&deployment.branch) {
            by_pr.entry(number).or_default().push(deployment);
        }
    }
    by_pr
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn deployment(id: &str, branch: &str, environment: Environment) -> Deployment {
        Deployment {
            id: id.to_owned(),
            url: format!("https://{id}.dashboard.pages.dev"),
            branch: branch.to_owned(),
            environment,
            aliases: Vec::new(),
            created_on: None,
        }
    }

    fn listing() -> Vec<Deployment> {
        vec![
            deployment("p2", "main", Environment::Production),
            deployment("a2", "pr-7", Environment::Preview),
            deployment("b1", "pr-70", Environment::Preview),
            deployment("x1", "pr-7", Environment::Production),
            deployment("c1", "pr-8", Environment::Preview),
            deployment("o1", "pr-7", Environment::Other("staging".to_owned())),
            deployment("a1", "pr-7", Environment::Preview),
            deployment("m1", "main", Environment::Preview),
            deployment("f1", "feature/x", Environment::Preview),
            deployment("p1", "main", Environment::Production),
        ]
    }

    fn check(branch: &str, expected: Expect) {
        expected.assert_eq(&format!("{:?}", deletable(&listing(), branch)));
    }

    #[test]
    fn a_removal_deletes_the_previews_of_its_branch_only() {
        check("pr-7", expect![[r#"["a2", "a1"]"#]]);
        check("pr-70", expect![[r#"["b1"]"#]]);
        check("pr-9", expect!["[]"]);
        check("feature/x", expect![[r#"["f1"]"#]]);
        check("main", expect!["[]"]);
        check("", expect!["[]"]);
    }

    #[test]
    fn production_is_never_a_branch_to_remove() {
        expect![[
            r#"Err(Refused("the deployments of `main` are production's: only preview branches are removed"))"#
        ]]
        .assert_eq(&format!("{:?}", check_deletable_branch("main")));
        assert!(check_deletable_branch("pr-7").is_ok());
        assert!(check_deletable_branch("pr 7").is_err());
        assert!(check_deletable_branch("").is_err());
    }

    #[test]
    fn previews_group_by_their_pull_request() {
        let listed = listing();
        let grouped: Vec<String> = previews_by_pr(&listed)
            .iter()
            .map(|(n, ds)| {
                let ids: Vec<&str> = ds.iter().map(|d| d.id.as_str()).collect();
                format!("#{n}: {ids:?}")
            })
            .collect();
        expect![[r#"
            #7: ["a2", "a1"]
            #8: ["c1"]
            #70: ["b1"]"#]]
        .assert_eq(&grouped.join("\n"));
    }

    fn check_number(branches: &[&str], expected: Expect) {
        let actual: Vec<String> = branches
            .iter()
            .map(|b| format!("{b} -> {:?}", pr_number(b)))
            .collect();
        expected.assert_eq(&actual.join("\n"));
    }

    #[test]
    fn only_canonical_pr_branches_name_a_pull_request() {
        assert_eq!(pr_branch(7), "pr-7");
        check_number(
            &[
                "pr-7",
                "pr-70",
                "pr-07",
                "pr-0",
                "pr-",
                "pr-7a",
                "PR-7",
                "pr--7",
                "pr-99999999999",
                "main",
            ],
            expect![[r#"
                pr-7 -> Some(7)
                pr-70 -> Some(70)
                pr-07 -> None
                pr-0 -> None
                pr- -> None
                pr-7a -> None
                PR-7 -> None
                pr--7 -> None
                pr-99999999999 -> None
                main -> None"#]],
        );
    }

    fn check_alias(branches: &[&str], expected: Expect) {
        let actual: Vec<String> = branches
            .iter()
            .map(|b| format!("{b:?} -> {:?}", branch_alias(b)))
            .collect();
        expected.assert_eq(&actual.join("\n"));
    }

    #[test]
    fn branch_aliases_follow_pages_normalisation() {
        check_alias(
            &[
                "pr-7",
                "Feature/Login_Page",
                "-x-",
                "dependabot/npm_and_yarn/dustjs-linkedin-3.0.0",
                "///",
                "ünïcode",
            ],
            expect![[r#"
                "pr-7" -> Some("pr-7")
                "Feature/Login_Page" -> Some("feature-login-page")
                "-x-" -> Some("x")
                "dependabot/npm_and_yarn/dustjs-linkedin-3.0.0" -> Some("dependabot-npm-and-yarn-dust")
                "///" -> None
                "ünïcode" -> Some("n-code")"#]],
        );
    }

    #[test]
    fn the_branch_url_is_the_project_for_production_and_the_alias_for_previews() {
        assert_eq!(
            branch_url("dashboard-3kx.pages.dev", &Environment::Production, "main").as_deref(),
            Some("https://dashboard-3kx.pages.dev")
        );
        assert_eq!(
            branch_url("dashboard-3kx.pages.dev", &Environment::Preview, "pr-7").as_deref(),
            Some("https://pr-7.dashboard-3kx.pages.dev")
        );
        assert_eq!(
            branch_url("dashboard.pages.dev", &Environment::Preview, "///"),
            None
        );
    }
}
