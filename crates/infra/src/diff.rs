//! Differences between two renderings, per resource and, for state machines, per state, as text a
//! reviewer reads. IAM changes that widen access are called out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;
use serde_yaml::Value;
use similar::{ChangeTag, TextDiff};

use crate::asl::{nested_scopes, scope_states};
use crate::cfn::short;
use crate::iam::allowed_pairs;
use crate::render::Rendered;

/// What happened to one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// New.
    Added,
    /// Gone.
    Removed,
    /// Changed.
    Modified,
}

/// One line of a text diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `+`, `-`, ` ` (context) or `@` (a gap).
    pub tag: char,
    /// The line without its newline.
    pub text: String,
}

/// One changed resource, parameter, output or state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `stack`, `bootstrap` or `stack-policy`.
    pub document: String,
    /// `Resources`, `Parameters`, `Outputs`, `States`, `Template`.
    pub section: String,
    /// The logical id, or the state's path (`ImportStateMachine/ApplyRows/ProcessBatch`).
    pub id: String,
    /// Added, removed or modified.
    pub kind: ChangeKind,
    /// The resource type (or the state type).
    pub resource_type: Option<String>,
    /// The text diff of the YAML of both sides.
    pub lines: Vec<DiffLine>,
    /// Ways the change widens IAM access.
    pub widening: Vec<String>,
}

/// Every change between two renderings of one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The environment.
    pub environment: String,
    /// The changes, in document order.
    pub changes: Vec<Change>,
}

impl Diff {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether any change widens IAM access.
    pub fn widens_access(&self) -> bool {
        self.changes
            .iter()
            .any(|change| !change.widening.is_empty())
    }
}

/// The differences from `old` to `new`.
pub fn diff(old: &Rendered, new: &Rendered) -> Diff {
    let mut changes = Vec::new();
    diff_template(
        "stack",
        Some(&old.template),
        Some(&new.template),
        &mut changes,
    );
    diff_template(
        "bootstrap",
        old.bootstrap.as_ref(),
        new.bootstrap.as_ref(),
        &mut changes,
    );
    let old_policy = serde_yaml::to_value(&old.stack_policy).unwrap_or_default();
    let new_policy = serde_yaml::to_value(&new.stack_policy).unwrap_or_default();
    if let Some(change) = compare(
        "stack-policy",
        "Template",
        "stack policy",
        None,
        Some(&old_policy),
        Some(&new_policy),
    ) {
        changes.push(change);
    }
    Diff {
        environment: new.environment.to_string(),
        changes,
    }
}

fn section<'a>(template: Option<&'a Value>, name: &str) -> BTreeMap<String, &'a Value> {
    template
        .and_then(|t| t.get(name))
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.as_str()?.to_owned(), value)))
        .collect()
}

fn diff_template(
    document: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    changes: &mut Vec<Change>,
) {
    if old.is_none() && new.is_none() {
        return;
    }
    for key in ["AWSTemplateFormatVersion", "Description"] {
        let (a, b) = (old.and_then(|t| t.get(key)), new.and_then(|t| t.get(key)));
        if let Some(change) = compare(document, "Template", key, None, a, b) {
            changes.push(change);
        }
    }
    for name in ["Parameters", "Conditions", "Resources", "Outputs"] {
        let (before, after) = (section(old, name), section(new, name));
        let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for id in ids {
            let (a, b) = (before.get(id).copied(), after.get(id).copied());
            let kind = b
                .or(a)
                .and_then(|r| r.get("Type"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if kind.as_deref() == Some("AWS::StepFunctions::StateMachine") {
                let (a_rest, a_states) = split_state_machine(a);
                let (b_rest, b_states) = split_state_machine(b);
                if let Some(change) = compare(
                    document,
                    name,
                    id,
                    kind.clone(),
                    a_rest.as_ref(),
                    b_rest.as_ref(),
                ) {
                    changes.push(change);
                }
                let paths: BTreeSet<&String> = a_states.keys().chain(b_states.keys()).collect();
                let mut state_changes: Vec<Change> = paths
                    .into_iter()
                    .filter_map(|path| {
                        let (x, y) = (a_states.get(path), b_states.get(path));
                        let state_type = y
                            .or(x)
                            .and_then(|s| s.get("Type"))
                            .and_then(Value::as_str)
                            .map(|t| format!("{t} state"));
                        compare(
                            document,
                            "States",
                            &format!("{id}/{path}"),
                            state_type,
                            x,
                            y,
                        )
                    })
                    .collect();
                changes.append(&mut state_changes);
                continue;
            }
            if let Some(mut change) = compare(document, name, id, kind.clone(), a, b) {
                if kind.as_deref() == Some("AWS::IAM::Role") {
                    change.widening = widening(a, b);
                }
                changes.push(change);
            }
        }
    }
}

/// A state machine resource without its definition, and its states by path (each without nested states).
fn split_state_machine(resource: Option<&Value>) -> (Option<Value>, BTreeMap<String, Value>) {
    let Some(resource) = resource else {
        return (None, BTreeMap::new());
    };
    let mut rest = resource.clone();
    let mut states = BTreeMap::new();
    let definition = rest
        .get_mut("Properties")
        .and_then(Value::as_mapping_mut)
        .and_then(|p| p.remove("Definition"));
    if let Some(definition) = definition {
        let mut top = definition.clone();
        if let Some(mapping) = top.as_mapping_mut() {
            mapping.remove("States");
        }
        states.insert("(definition)".to_owned(), top);
        collect_states("", &definition, &mut states);
        if let Some(properties) = rest.get_mut("Properties").and_then(Value::as_mapping_mut) {
            properties.insert(
                "Definition".into(),
                Value::String(format!("({} states, shown one by one)", states.len() - 1)),
            );
        }
    }
    (Some(rest), states)
}

fn collect_states(prefix: &str, scope: &Value, out: &mut BTreeMap<String, Value>) {
    for (name, state) in scope_states(scope).into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let path = format!("{prefix}{name}");
        let mut own = state.clone();
        for nested in nested_scopes(state) {
            collect_states(&format!("{path}/"), nested, out);
        }
        if let Some(mapping) = own.as_mapping_mut() {
            for field in ["ItemProcessor", "Iterator"] {
                if let Some(Value::Mapping(processor)) = mapping.get_mut(field) {
                    processor.insert(
                        "States".into(),
                        Value::String("(shown one by one)".to_owned()),
                    );
                }
            }
        }
        out.insert(path, own);
    }
}

fn compare(
    document: &str,
    section: &str,
    id: &str,
    resource_type: Option<String>,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Option<Change> {
    let kind = match (old, new) {
        (None, None) => return None,
        (None, Some(_)) => ChangeKind::Added,
        (Some(_), None) => ChangeKind::Removed,
        (Some(a), Some(b)) if a == b => return None,
        (Some(_), Some(_)) => ChangeKind::Modified,
    };
    let text = |value: Option<&Value>| value.map(crate::yaml::to_string).unwrap_or_default();
    let (before, after) = (text(old), text(new));
    Some(Change {
        document: document.to_owned(),
        section: section.to_owned(),
        id: id.to_owned(),
        kind,
        resource_type,
        lines: text_diff(&before, &after),
        widening: Vec::new(),
    })
}

fn text_diff(before: &str, after: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_lines(before, after);
    let mut lines = Vec::new();
    for (index, group) in diff.grouped_ops(3).iter().enumerate() {
        if index > 0 {
            lines.push(DiffLine {
                tag: '@',
                text: "...".to_owned(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                lines.push(DiffLine {
                    tag,
                    text: change.value().trim_end_matches('\n').to_owned(),
                });
            }
        }
    }
    lines
}

fn role_pairs(role: Option<&Value>) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for policy in role
        .and_then(|r| r.get("Properties"))
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let statements = policy
            .get("PolicyDocument")
            .and_then(|d| d.get("Statement"))
            .unwrap_or(&Value::Null);
        for pair in allowed_pairs(statements).0 {
            pairs.insert((pair.action, short(&pair.resource)));
        }
    }
    pairs
}

/// How a role's new version allows more than its old one.
fn widening(old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let (before, after) = (role_pairs(old), role_pairs(new));
    let old_actions: BTreeSet<&String> = before.iter().map(|(action, _)| action).collect();
    let mut out = Vec::new();
    for (action, resource) in after.difference(&before) {
        if action.contains('*') {
            out.push(format!("wildcard action {action} on {resource}"));
        } else if resource == "*" {
            out.push(format!("wildcard resource: {action} on *"));
        } else if !old_actions.contains(action) {
            out.push(format!("new action {action} on {resource}"));
        } else {
            out.push(format!("new resource for {action}: {resource}"));
        }
    }
    let trust = |role: Option<&Value>| {
        role.and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("AssumeRolePolicyDocument"))
            .cloned()
    };
    if old.is_some() && trust(old) != trust(new) {
        out.push("the trust policy (who may assume the role) changed".to_owned());
    }
    out
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD_RED: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// The diff as text for a reviewer; ANSI colours when `color`.
pub fn render_text(diff: &Diff, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    if diff.is_empty() {
        let _ = writeln!(out, "{}: no changes", diff.environment);
        return out;
    }
    let widening: usize = diff.changes.iter().map(|c| c.widening.len()).sum();
    let _ = writeln!(
        out,
        "{}: {} changes{}",
        diff.environment,
        diff.changes.len(),
        if widening > 0 {
            format!(", {widening} widen IAM access")
        } else {
            String::new()
        }
    );
    for change in &diff.changes {
        let (mark, code) = match change.kind {
            ChangeKind::Added => ('+', GREEN),
            ChangeKind::Removed => ('-', RED),
            ChangeKind::Modified => ('~', YELLOW),
        };
        let kind = change
            .resource_type
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let document = if change.document == "stack" {
            String::new()
        } else {
            format!("{} ", change.document)
        };
        out.push('\n');
        let _ = writeln!(
            out,
            "{}",
            paint(
                code,
                &format!("{mark} {document}{} {}{kind}", change.section, change.id)
            )
        );
        for widening in &change.widening {
            let _ = writeln!(
                out,
                "  {}",
                paint(BOLD_RED, &format!("! widens access: {widening}"))
            );
        }
        for line in &change.lines {
            let text = format!("  {} {}", line.tag, line.text);
            let _ = match line.tag {
                '+' => writeln!(out, "{}", paint(GREEN, &text)),
                '-' => writeln!(out, "{}", paint(RED, &text)),
                '@' => writeln!(out, "{}", paint(CYAN, "  ...")),
                _ => writeln!(out, "{text}"),
            };
        }
    }
    out
}
