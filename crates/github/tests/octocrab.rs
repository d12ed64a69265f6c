//! The octocrab client over real HTTP against the project's stand-in GitHub API on 127.0.0.1:
//! pull requests, the marked comment, deployments and their statuses, and failures.

use userlog_github::{
    CommentOutcome, DeploymentState, GitHub, GitHubSettings, OctocrabGitHub, PullState,
    mark_latest_deployment, upsert_comment,
};
use userlog_testkit::github::{FakeGitHub, PostedStatus};

const REPOSITORY: &str = "userlog/userlog";
const TOKEN: &str = "ghs_test-token";

/// A client of the stand-in; octocrab's service stack needs a runtime when it is built.
fn client(runtime: &tokio::runtime::Runtime, github: &FakeGitHub, token: &str) -> OctocrabGitHub {
    let _entered = runtime.enter();
    let settings = GitHubSettings::from_lookup(|name| match name {
        "GITHUB_API_URL" => Some(github.url().to_owned()),
        "GITHUB_REPOSITORY" => Some(REPOSITORY.to_owned()),
        "GITHUB_TOKEN" => Some(token.to_owned()),
        _ => None,
    })
    .expect("the settings read")
    .expect("a token is set");
    OctocrabGitHub::new(&settings).expect("a client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn pull_requests_read_as_open_closed_or_missing() {
    let github = FakeGitHub::start(REPOSITORY, TOKEN);
    github.add_pull(7, "open", "a1b2c3", "d4e5f6");
    github.add_pull(8, "closed", "b1", "b2");
    let runtime = runtime();
    let client = client(&runtime, &github, TOKEN);
    runtime.block_on(async {
        let open = client
            .pull_request(7)
            .await
            .expect("a pull request")
            .expect("7 exists");
        assert_eq!(
            (
                open.number,
                open.state,
                open.head_sha.as_str(),
                open.base_sha.as_str(),
                open.base_ref.as_str()
            ),
            (7, PullState::Open, "a1b2c3", "d4e5f6", "main")
        );
        let closed = client
            .pull_request(8)
            .await
            .expect("a pull request")
            .expect("8 exists");
        assert_eq!(closed.state, PullState::Closed);
        assert_eq!(client.pull_request(9).await.expect("an answer"), None);
    });
}

#[test]
fn the_marked_comment_is_posted_once_then_updated_in_place() {
    let github = FakeGitHub::start(REPOSITORY, TOKEN);
    github.add_pull(7, "open", "a", "b");
    let runtime = runtime();
    let client = client(&runtime, &github, TOKEN);
    let marker = "<!-- userlog-preview preview-pr-7 -->";
    runtime.block_on(async {
        client
            .create_comment(7, "an unrelated review comment")
            .await
            .expect("a comment");
        let first = upsert_comment(&client, 7, marker, &format!("{marker}\nfirst"))
            .await
            .expect("posted");
        assert_eq!(first.1, CommentOutcome::Created);
        let same = upsert_comment(&client, 7, marker, &format!("{marker}\nfirst"))
            .await
            .expect("kept");
        assert_eq!(same, (first.0, CommentOutcome::Unchanged));
        let second = upsert_comment(&client, 7, marker, &format!("{marker}\nsecond"))
            .await
            .expect("updated");
        assert_eq!(second, (first.0, CommentOutcome::Updated));
    });
    assert_eq!(
        github.comments(7),
        [
            "an unrelated review comment".to_owned(),
            format!("{marker}\nsecond")
        ]
    );
}

#[test]
fn comments_are_read_across_pages() {
    let github = FakeGitHub::start(REPOSITORY, TOKEN);
    let runtime = runtime();
    let client = client(&runtime, &github, TOKEN);
    runtime.block_on(async {
        for i in 0..105 {
            client
                .create_comment(3, &format!("comment {i}"))
                .await
                .expect("a comment");
        }
        let all = client.comments(3).await.expect("the comments");
        assert_eq!(all.len(), 105);
        assert_eq!(all[104].body, "comment 104");
    });
    let pages = github
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET") && r.ends_with("/issues/3/comments"))
        .count();
    assert_eq!(pages, 2);
}

#[test]
fn deployments_get_statuses_and_the_latest_goes_inactive() {
    let github = FakeGitHub::start(REPOSITORY, TOKEN);
    let runtime = runtime();
    let client = client(&runtime, &github, TOKEN);
    runtime.block_on(async {
        let old = client
            .create_deployment("c1", "preview-pr-7", "preview")
            .await
            .expect("a deployment");
        client
            .set_deployment_status(old.id, DeploymentState::InProgress, None, "deploying")
            .await
            .expect("a status");
        client
            .set_deployment_status(old.id, DeploymentState::Failure, None, &"x".repeat(300))
            .await
            .expect("a long description is cut");
        let new = client
            .create_deployment("c2", "preview-pr-7", "preview")
            .await
            .expect("a deployment");
        client
            .set_deployment_status(
                new.id,
                DeploymentState::Success,
                Some("http://127.0.0.1:1/api"),
                "ready",
            )
            .await
            .expect("a status");
        client
            .create_deployment("c3", "preview-pr-8", "preview")
            .await
            .expect("another environment");
        let listed = client
            .deployments("preview-pr-7")
            .await
            .expect("the deployments");
        assert_eq!(
            listed.iter().map(|d| d.sha.as_str()).collect::<Vec<_>>(),
            ["c2", "c1"]
        );
        let marked = mark_latest_deployment(
            &client,
            "preview-pr-7",
            DeploymentState::Inactive,
            "removed",
        )
        .await
        .expect("marked");
        assert_eq!(marked, Some(new.id));
        assert_eq!(
            mark_latest_deployment(
                &client,
                "preview-pr-9",
                DeploymentState::Inactive,
                "removed"
            )
            .await
            .expect("an answer"),
            None
        );
    });
    let deployments = github.deployments("preview-pr-7");
    let states = |id| -> Vec<PostedStatus> { github.statuses(id) };
    assert_eq!(
        states(deployments[0].0)
            .iter()
            .map(|s| s.state.as_str())
            .collect::<Vec<_>>(),
        ["in_progress", "failure"]
    );
    assert_eq!(
        states(deployments[1].0),
        [
            PostedStatus {
                state: "success".to_owned(),
                environment_url: Some("http://127.0.0.1:1/api".to_owned())
            },
            PostedStatus {
                state: "inactive".to_owned(),
                environment_url: None
            },
        ]
    );
}

#[test]
fn failures_name_the_call_and_the_status() {
    let github = FakeGitHub::start(REPOSITORY, TOKEN);
    let runtime = runtime();
    let wrong = client(&runtime, &github, "not-the-token");
    runtime.block_on(async {
        let error = wrong.pull_request(7).await.expect_err("bad credentials");
        assert_eq!(error.status, Some(401), "{error}");
        assert!(
            error
                .to_string()
                .contains("GET /repos/userlog/userlog/pulls/7"),
            "{error}"
        );
    });
    github.set_failing(true);
    let right = client(&runtime, &github, TOKEN);
    runtime.block_on(async {
        let error = right
            .create_comment(7, "x")
            .await
            .expect_err("a server error");
        assert_eq!(error.status, Some(502), "{error}");
    });
}
