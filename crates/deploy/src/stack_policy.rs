//! The stack policy, approved by whoever bootstraps the environment: `bootstrap` stores the
//! rendered policy in the artifact bucket under a key named by its content, which the deploy role
//! may read but never write, and the deploy role may set a stack's policy only from there. A
//! template change that needs a new policy therefore waits for the account's administrator.

use sha2::{Digest, Sha256};

use crate::target::Target;

/// Where approved stack policies live in the artifact bucket (the deploy role is denied writes).
pub const APPROVED_PREFIX: &str = "stack-policy/";

/// How a deploy sets its stack's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// From the request body: on the emulator, where no role restrains anything.
    Body(String),
    /// From the approved copy in the artifact bucket (the only URL the deploy role may name).
    Approved {
        /// The artifact bucket.
        bucket: String,
        /// The approved copy's key.
        key: String,
        /// The URL `SetStackPolicy` names.
        url: String,
    },
    /// Not at all: previews keep no data, and their role may not set stack policies.
    Skip,
}

/// The key of the approved copy of `policy_json`.
pub fn approved_key(policy_json: &str) -> String {
    let digest = Sha256::digest(policy_json.as_bytes());
    format!("{APPROVED_PREFIX}{}.json", hex::encode(digest))
}

/// How `target` sets the policy `policy_json`.
pub fn source(target: &Target, policy_json: &str) -> PolicySource {
    if target.environment.pull_request().is_some() {
        return PolicySource::Skip;
    }
    if target.is_local {
        return PolicySource::Body(policy_json.to_owned());
    }
    let key = approved_key(policy_json);
    PolicySource::Approved {
        url: crate::target::template_url(None, &target.region, &target.artifact_bucket, &key),
        bucket: target.artifact_bucket.clone(),
        key,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use userlog_infra::EnvironmentName;

    use super::*;
    use crate::target::tests::rendered;

    // expect-test's `check` helpers take the expectation by value, as its documentation does.
    #[allow(clippy::needless_pass_by_value)]
    fn check(environment: EnvironmentName, host: Option<&str>, expected: Expect) {
        let target = Target::of(&rendered(environment), host);
        expected.assert_debug_eq(&source(&target, r#"{"Statement":[]}"#));
    }

    #[test]
    fn aws_environments_name_the_approved_copy_previews_set_none_the_emulator_sends_it() {
        check(
            EnvironmentName::Production,
            None,
            expect![[r#"
            Approved {
                bucket: "production-userlog-artifacts-222222222222",
                key: "stack-policy/701f12e2a45641932e7716b160cc43c240755a8790dc94ac5af17eb9dc4d261f.json",
                url: "https://production-userlog-artifacts-222222222222.s3.ap-northeast-1.amazonaws.com/stack-policy/701f12e2a45641932e7716b160cc43c240755a8790dc94ac5af17eb9dc4d261f.json",
            }
        "#]],
        );
        check(
            EnvironmentName::Preview(7),
            Some("staging"),
            expect![[r#"
                Skip
            "#]],
        );
        check(
            EnvironmentName::Local,
            None,
            expect![[r#"
            Body(
                "{\"Statement\":[]}",
            )
        "#]],
        );
    }
}
