//! The database connection budget of a rendering: what every function and task may hold at once
//! (its concurrency times the connections one instance opens), plus the tooling's, the previews'
//! and the margin's shares, against the environment's limit (`connections` in its file).
//!
//! A Lambda function's concurrency is the `ReservedConcurrentExecutions` of its rendered
//! `AWS::Lambda::Function`, so the check reads what would be deployed; a task's is its entry in
//! `connections.concurrency`. Which functions touch the database comes from functions.yaml
//! (`database: true`), planned ones included, so that a function gets its share before it lands.

use std::fmt::Write as _;

use serde::Serialize;
use serde_yaml::Value;

use crate::functions::FunctionKind;
use crate::render::Rendered;

/// The connections one function instance or task opens at most: it handles one event at a time
/// (`userlog_lambda::database::MAX_CONNECTIONS`, the pool every function and the task make).
pub const CONNECTIONS_PER_INSTANCE: u32 = 1;

/// One function's or task's share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    /// Its name in functions.yaml.
    pub function: String,
    /// Lambda function or ECS task.
    pub kind: FunctionKind,
    /// How many run at once (reserved concurrency, or bulk tasks), when known.
    pub concurrency: Option<u32>,
    /// Connections: concurrency × connections per instance.
    pub connections: u32,
}

/// The budget of one environment, summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// The most connections the pipeline may hold.
    pub limit: u32,
    /// Every function and task that touches the database.
    pub shares: Vec<Share>,
    /// The tooling's share.
    pub tooling: u32,
    /// The previews' share.
    pub previews: u32,
    /// The margin.
    pub margin: u32,
    /// Everything together.
    pub total: u32,
}

impl Budget {
    /// Whether the shares fit the limit.
    pub fn fits(&self) -> bool {
        self.total <= self.limit
    }

    /// `validate-csv 10 + process-user-log 40 + ... + tooling 10 + margin 10 = 96 of 200`.
    pub fn line(&self) -> String {
        let mut line = String::new();
        for share in &self.shares {
            let _ = write!(line, "{} {} + ", share.function, share.connections);
        }
        let _ = write!(line, "tooling {} + ", self.tooling);
        if self.previews > 0 {
            let _ = write!(line, "previews {} + ", self.previews);
        }
        let _ = write!(
            line,
            "margin {} = {} of {}",
            self.margin, self.total, self.limit
        );
        line
    }
}

/// The budget of `rendered`, and what is wrong with it as (subject, message) pairs.
pub fn check(rendered: &Rendered) -> (Budget, Vec<(String, String)>) {
    let connections = &rendered.connections;
    let mut problems = Vec::new();
    let mut shares = Vec::new();
    for principal in rendered.principals.iter().filter(|p| p.database) {
        let concurrency = match principal.kind {
            FunctionKind::Lambda => {
                let id = format!("{}Function", principal.id);
                let reserved = rendered
                    .template
                    .get("Resources")
                    .and_then(|r| r.get(id.as_str()))
                    .and_then(|f| f.get("Properties"))
                    .and_then(|p| p.get("ReservedConcurrentExecutions"))
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok());
                if reserved.is_none() {
                    problems.push((
                        id,
                        format!(
                            "{} touches the database but has no ReservedConcurrentExecutions: its instances, each with a connection, are bounded only by the account; give it an entry in connections.concurrency",
                            principal.key
                        ),
                    ));
                }
                reserved
            }
            FunctionKind::EcsTask => {
                let entry = connections.concurrency.get(&principal.key).copied();
                if entry.is_none() {
                    problems.push((
                        "connections".to_owned(),
                        format!(
                            "the task {} touches the database but connections.concurrency has no entry for it",
                            principal.key
                        ),
                    ));
                }
                entry
            }
        };
        shares.push(Share {
            function: principal.key.clone(),
            kind: principal.kind,
            concurrency,
            connections: concurrency.unwrap_or(0) * CONNECTIONS_PER_INSTANCE,
        });
    }
    for name in connections.concurrency.keys() {
        if !shares.iter().any(|share| &share.function == name) {
            problems.push((
                "connections".to_owned(),
                format!(
                    "connections.concurrency names `{name}`, which is not a function or task of functions.yaml that touches the database"
                ),
            ));
        }
    }
    let total = shares.iter().map(|share| share.connections).sum::<u32>()
        + connections.tooling
        + connections.previews
        + connections.margin;
    let budget = Budget {
        limit: connections.limit(),
        shares,
        tooling: connections.tooling,
        previews: connections.previews,
        margin: connections.margin,
        total,
    };
    if !budget.fits() {
        problems.push((
            "connections".to_owned(),
            format!(
                "the connection budget does not fit: {}; lower a function's concurrency (connections.concurrency) or raise the limit (a larger database, or a proxy)",
                budget.line()
            ),
        ));
    }
    (budget, problems)
}
