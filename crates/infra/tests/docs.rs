//! The committed diagrams are what `cargo xtask graph` generates, so the docs cannot drift
//! (`UPDATE_EXPECT=1` rewrites them, as `cargo xtask graph --write` does).

mod common;

use userlog_infra::EnvironmentName;
use userlog_infra::graph::{diagrams, replace_section};

#[test]
fn docs_diagrams_are_generated_from_the_templates() {
    let path = common::repo_root().join("docs/diagrams.md");
    let committed = std::fs::read_to_string(&path)
        .expect("docs/diagrams.md exists: run `cargo xtask graph --write`");
    let mut regenerated = committed.clone();
    for (name, diagram) in diagrams(&common::rendered(EnvironmentName::Staging)) {
        regenerated = replace_section(&regenerated, &name, &diagram);
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() && committed != regenerated {
        std::fs::write(&path, &regenerated).expect("docs/diagrams.md is writable");
        return;
    }
    assert!(
        committed == regenerated,
        "docs/diagrams.md is stale: run `cargo xtask graph --write`"
    );
}
