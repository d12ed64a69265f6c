//! Canary releases: the decisions of a gradual alias shift, as pure functions.
//!
//! A canary release of a function moves its alias `stable` in three stack updates, so that the
//! stack stays the one truth for the aliases:
//!
//! 1. **shift**: `stable` keeps its version and sends `percent` of the calls to the new one
//!    (`<Id>CanaryVersion`, `<Id>CanaryWeight`: the alias's `RoutingConfig`);
//! 2. the deploy **bakes** for the bake time, watching the environment's alarms and the new
//!    versions' errors and throttles ([`judge`]);
//! 3. **promote** (`stable` to the new version, no weights) or **revert** (`stable` stays, no
//!    weights).
//!
//! A deploy killed mid-bake leaves the canary in the stack's parameters; [`in_flight`] finds it,
//! and the next deploy or rollback reverts it before doing anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::release::AliasMove;
use crate::target::{ReleaseDefaults, StackManifest};

/// How a release shifts traffic: `percent` of the calls to the new versions for `bake`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryPolicy {
    /// The share of calls, in percent (1 to 99), that the new versions take while baking.
    pub percent: u8,
    /// How long the canary bakes.
    #[serde(serialize_with = "as_seconds")]
    pub bake: Duration,
}

fn as_seconds<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_secs())
}

/// The bake time when `--canary` is given without `--bake` and the environment names none.
pub const DEFAULT_BAKE: Duration = Duration::from_secs(10 * 60);

/// The release policy of a deploy: the command line's `--canary`/`--bake` over the environment's
/// defaults. `None`: every new version takes all calls at once.
pub fn policy(
    percent: Option<u8>,
    bake: Option<Duration>,
    defaults: Option<&ReleaseDefaults>,
) -> Result<Option<CanaryPolicy>, String> {
    let percent = percent.or(defaults.map(|d| d.canary_percent)).unwrap_or(0);
    if percent == 0 {
        return Ok(None);
    }
    if percent >= 100 {
        return Err(format!(
            "--canary {percent}: a canary takes 1 to 99 percent of the calls (0 releases at once)"
        ));
    }
    let bake = bake
        .or_else(|| {
            defaults
                .filter(|d| d.bake_minutes > 0)
                .map(|d| Duration::from_secs(u64::from(d.bake_minutes) * 60))
        })
        .unwrap_or(DEFAULT_BAKE);
    if bake.is_zero() {
        return Err("--bake 0: a canary needs a bake time (or --canary 0)".to_owned());
    }
    Ok(Some(CanaryPolicy { percent, bake }))
}

/// Parses a duration such as `10m`, `90s`, `1h30m` or `2m30s` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration such as 10m, 90s or 1h30m");
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

/// A duration as people write it: `10m`, `1m30s`, `45s`.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s:02}s"),
    }
}

/// Where `stable` of one function sends its canary share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryRoute {
    /// The new version.
    pub version: String,
    /// The share of calls it takes, in percent.
    pub percent: u8,
}

impl CanaryRoute {
    /// The route of `percent` of the calls to `version`.
    pub fn new(version: &str, percent: u8) -> Self {
        CanaryRoute {
            version: version.to_owned(),
            percent,
        }
    }

    /// The weight (0 to 1) as the stack parameter takes it: `0.1` for 10 %.
    pub fn weight_text(&self) -> String {
        match self.percent {
            0 => "0".to_owned(),
            p if p >= 100 => "1".to_owned(),
            p if p % 10 == 0 => format!("0.{}", p / 10),
            p => format!("0.{p:02}"),
        }
    }
}

/// One step of a canary release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `stable` keeps the old version and sends the canary share to the new one.
    Shift(u8),
    /// `stable` moves to the new version; no weights.
    Promote,
    /// `stable` stays on the old version; no weights.
    Revert,
}

/// The stack parameters that change for `phase` of `moves` (by parameter name); every other
/// parameter keeps its value.
pub fn phase_parameters(
    manifest: &StackManifest,
    moves: &[AliasMove],
    phase: Phase,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for moved in moves {
        let Some(function) = manifest.lambdas().find(|f| f.name == moved.function) else {
            continue;
        };
        let (version, route) = match phase {
            Phase::Shift(percent) => (&moved.from, Some(CanaryRoute::new(&moved.to, percent))),
            Phase::Promote => (&moved.to, None),
            Phase::Revert => (&moved.from, None),
        };
        values.insert(moved.version_parameter.clone(), version.clone());
        if let Some(parameter) = &function.canary_version_parameter {
            let version = route
                .as_ref()
                .map(|r| r.version.clone())
                .unwrap_or_default();
            values.insert(parameter.clone(), version);
        }
        if let Some(parameter) = &function.canary_weight_parameter {
            let weight = route.map_or_else(|| "0".to_owned(), |r| r.weight_text());
            values.insert(parameter.clone(), weight);
        }
    }
    values
}

/// A canary left in the stack: a function whose `stable` sends a share of its calls to another
/// version, as the stack's parameters say.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    /// The function's key.
    pub function: String,
    /// Its name in AWS.
    pub function_name: String,
    /// The parameter of `stable`'s version.
    pub version_parameter: String,
    /// The version `stable` keeps.
    pub stable: String,
    /// The version that takes the canary share.
    pub canary: String,
}

impl InFlight {
    /// The alias move that reverting the canary undoes (from the stable version to the canary).
    pub fn as_move(&self) -> AliasMove {
        AliasMove {
            function: self.function.clone(),
            function_name: self.function_name.clone(),
            version_parameter: self.version_parameter.clone(),
            from: self.stable.clone(),
            to: self.canary.clone(),
        }
    }
}

/// The canaries that the stack's parameters hold (a canary release that did not finish).
pub fn in_flight(manifest: &StackManifest, parameters: &BTreeMap<String, String>) -> Vec<InFlight> {
    manifest
        .lambdas()
        .filter_map(|function| {
            let canary = parameters
                .get(function.canary_version_parameter.as_deref()?)
                .filter(|v| !v.is_empty())?;
            let version_parameter = function.version_parameter.clone()?;
            let stable = parameters.get(&version_parameter).cloned()?;
            Some(InFlight {
                function: function.name.clone(),
                function_name: function.resource_name.clone(),
                version_parameter,
                stable,
                canary: canary.clone(),
            })
        })
        .collect()
}

/// One CloudWatch alarm as the bake reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmReading {
    /// The alarm's name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why it is in that state (CloudWatch's reason).
    pub reason: String,
    /// When it entered that state.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Errors and throttles of one new version since the bake started.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionHealth {
    /// The function's key.
    pub function: String,
    /// The new version.
    pub version: String,
    /// Errors counted on that version.
    pub errors: f64,
    /// Throttled calls of that version.
    pub throttles: f64,
}

/// The alarms in `ALARM` when the bake starts: they do not stop the canary unless they go to
/// `ALARM` again during the bake.
pub fn firing_at_start(alarms: &[AlarmReading]) -> BTreeSet<String> {
    alarms
        .iter()
        .filter(|a| a.state == "ALARM")
        .map(|a| a.name.clone())
        .collect()
}

/// What one look at the alarms and the new versions says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing is wrong so far.
    Healthy,
    /// The canary must be rolled back, for these reasons (the alarm first).
    RollBack(Vec<String>),
}

/// Judges one reading taken during the bake that started at `started`: an alarm that is in
/// `ALARM` (and was not already at the start, or entered it again since), or any error or
/// throttle on a new version, rolls the canary back.
pub fn judge(
    alarms: &[AlarmReading],
    firing_before: &BTreeSet<String>,
    started: DateTime<Utc>,
    versions: &[VersionHealth],
) -> Verdict {
    let mut reasons = Vec::new();
    for alarm in alarms.iter().filter(|a| a.state == "ALARM") {
        let entered_during_bake = alarm.updated_at.is_some_and(|t| t >= started);
        if !firing_before.contains(&alarm.name) || entered_during_bake {
            let reason = shortened(&alarm.reason, 200);
            reasons.push(if reason.is_empty() {
                format!("alarm {} is in ALARM", alarm.name)
            } else {
                format!("alarm {} is in ALARM: {reason}", alarm.name)
            });
        }
    }
    for health in versions {
        if health.errors > 0.0 || health.throttles > 0.0 {
            reasons.push(format!(
                "{} version {}: {} error(s), {} throttle(s) since the canary started",
                health.function, health.version, health.errors, health.throttles
            ));
        }
    }
    if reasons.is_empty() {
        Verdict::Healthy
    } else {
        Verdict::RollBack(reasons)
    }
}

/// `text` cut to at most `limit` characters, with an ellipsis when it was longer.
fn shortened(text: &str, limit: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// How long to wait before the next look: every `interval`, but never past the end of the bake.
pub fn next_poll(remaining: Duration, interval: Duration) -> Duration {
    remaining.min(interval)
}

/// The record of a canary in progress, next to the release record: who started it and what it
/// moves. Read by the deploy or rollback that finds the canary left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryRecord {
    /// The environment.
    pub environment: String,
    /// The deploy that started it.
    pub deploy_id: String,
    /// Who ran that deploy.
    pub owner: String,
    /// The share of calls.
    pub percent: u8,
    /// The bake time in seconds.
    pub bake_seconds: u64,
    /// When the shift was made.
    pub started_at: DateTime<Utc>,
    /// The moves it makes when it is promoted.
    pub moves: Vec<AliasMove>,
}

/// Where an environment's canary record is kept in the artifact bucket.
pub fn record_key(key_prefix: &str, environment: &str) -> String {
    format!("{key_prefix}releases/{environment}/canary.json")
}

/// How a canary release ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum CanaryOutcome {
    /// The bake passed and `stable` moved to the new versions.
    Promoted,
    /// An alarm (or errors on a new version) rolled it back.
    RolledBack {
        /// What was wrong.
        reasons: Vec<String>,
    },
    /// The deploy was interrupted (SIGINT or SIGTERM) during the bake and rolled it back.
    Interrupted,
}

/// One timed phase of a release, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTime {
    /// `shift 10 %`, `bake`, `promote`, `revert`.
    pub phase: String,
    /// How long it took.
    pub seconds: f64,
}

/// What a canary release did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryReport {
    /// The policy it followed.
    pub policy: CanaryPolicy,
    /// The functions and versions it released.
    pub moves: Vec<AliasMove>,
    /// The alarms it watched.
    pub alarms_watched: usize,
    /// The alarms already in ALARM when it started (they did not stop it).
    pub alarms_firing_at_start: Vec<String>,
    /// How it ended.
    pub outcome: CanaryOutcome,
    /// Its phases and their times.
    pub phases: Vec<PhaseTime>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::target::ManifestFunction;

    fn manifest() -> StackManifest {
        let function = |name: &str, id: &str| ManifestFunction {
            name: name.to_owned(),
            kind: "lambda".to_owned(),
            resource_name: format!("production-userlog-{name}"),
            code_parameter: Some(format!("{id}CodeKey")),
            version_parameter: Some(format!("{id}Version")),
            canary_version_parameter: Some(format!("{id}CanaryVersion")),
            canary_weight_parameter: Some(format!("{id}CanaryWeight")),
            alias: Some("stable".to_owned()),
            planned: false,
        };
        StackManifest {
            stack_name: "production-userlog".to_owned(),
            environment: "production".to_owned(),
            region: "ap-northeast-1".to_owned(),
            account_id: "222222222222".to_owned(),
            capabilities: vec![],
            parameters: vec![],
            functions: vec![
                function("validate-csv", "ValidateCsv"),
                function("check-errors", "CheckErrors"),
            ],
            outputs: vec![],
            database_schema: None,
            release: None,
        }
    }

    fn moved(function: &str, id: &str, from: &str, to: &str) -> AliasMove {
        AliasMove {
            function: function.to_owned(),
            function_name: format!("production-userlog-{function}"),
            version_parameter: format!("{id}Version"),
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0)
            .single()
            .expect("a valid time")
    }

    fn alarm(name: &str, state: &str, minute: u32) -> AlarmReading {
        AlarmReading {
            name: name.to_owned(),
            state: state.to_owned(),
            reason: String::new(),
            updated_at: Some(at(minute)),
        }
    }

    /// Checks a policy decision against its expected text.
    fn check_policy(
        percent: Option<u8>,
        bake: Option<&str>,
        defaults: Option<(u8, u32)>,
        expected: &str,
    ) {
        let defaults = defaults.map(|(canary_percent, bake_minutes)| ReleaseDefaults {
            canary_percent,
            bake_minutes,
        });
        let bake = bake.map(|b| parse_duration(b).expect("a duration"));
        let actual = match policy(percent, bake, defaults.as_ref()) {
            Ok(None) => "at once".to_owned(),
            Ok(Some(p)) => format!("{} % for {}", p.percent, human(p.bake)),
            Err(err) => format!("error: {err}"),
        };
        assert_eq!(actual, expected);
    }

    #[test]
    fn the_command_line_overrides_the_environments_default() {
        check_policy(None, None, None, "at once");
        check_policy(None, None, Some((10, 10)), "10 % for 10m");
        check_policy(Some(0), None, Some((10, 10)), "at once");
        check_policy(Some(25), Some("90s"), Some((10, 10)), "25 % for 1m30s");
        check_policy(Some(25), None, Some((0, 0)), "25 % for 10m");
        check_policy(None, Some("2m"), Some((10, 10)), "10 % for 2m");
        check_policy(
            Some(100),
            None,
            None,
            "error: --canary 100: a canary takes 1 to 99 percent of the calls (0 releases at once)",
        );
        check_policy(
            Some(5),
            Some("0"),
            None,
            "error: --bake 0: a canary needs a bake time (or --canary 0)",
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let check = |text: &str, expected: &str| {
            let actual = match parse_duration(text) {
                Ok(d) => d.as_secs().to_string(),
                Err(err) => err,
            };
            assert_eq!(actual, expected, "{text}");
        };
        check("90", "90");
        check("45s", "45");
        check("10m", "600");
        check("1h30m", "5400");
        check("2m30s", "150");
        check("10x", "`10x` is not a duration such as 10m, 90s or 1h30m");
        check("m", "`m` is not a duration such as 10m, 90s or 1h30m");
        check("5m3", "`5m3` is not a duration such as 10m, 90s or 1h30m");
        check("", "`` is not a duration such as 10m, 90s or 1h30m");
    }

    #[test]
    fn each_phase_sets_the_version_and_the_routing_of_the_functions_it_moves() {
        let moves = [moved("validate-csv", "ValidateCsv", "3", "4")];
        let show = |phase| format!("{:?}", phase_parameters(&manifest(), &moves, phase));
        assert_eq!(
            show(Phase::Shift(10)),
            r#"{"ValidateCsvCanaryVersion": "4", "ValidateCsvCanaryWeight": "0.1", "ValidateCsvVersion": "3"}"#
        );
        assert_eq!(
            show(Phase::Promote),
            r#"{"ValidateCsvCanaryVersion": "", "ValidateCsvCanaryWeight": "0", "ValidateCsvVersion": "4"}"#
        );
        assert_eq!(
            show(Phase::Revert),
            r#"{"ValidateCsvCanaryVersion": "", "ValidateCsvCanaryWeight": "0", "ValidateCsvVersion": "3"}"#
        );
        assert_eq!(CanaryRoute::new("4", 5).weight_text(), "0.05");
        assert_eq!(CanaryRoute::new("4", 50).weight_text(), "0.5");
    }

    #[test]
    fn a_canary_left_in_the_stack_is_found_from_its_parameters() {
        let parameters: BTreeMap<String, String> = [
            ("ValidateCsvVersion", "3"),
            ("ValidateCsvCanaryVersion", "4"),
            ("ValidateCsvCanaryWeight", "0.1"),
            ("CheckErrorsVersion", "7"),
            ("CheckErrorsCanaryVersion", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let found = in_flight(&manifest(), &parameters);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].as_move(),
            moved("validate-csv", "ValidateCsv", "3", "4")
        );
        assert!(in_flight(&manifest(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn an_alarm_that_fires_during_the_bake_rolls_it_back() {
        let before = firing_at_start(&[
            alarm("production-userlog-import-failures", "OK", 1),
            alarm("production-userlog-old-trouble", "ALARM", 1),
        ]);
        assert_eq!(before.len(), 1);
        // Still the same old alarm, unchanged since before the bake: not the canary's doing.
        let quiet = [
            alarm("production-userlog-import-failures", "OK", 1),
            alarm("production-userlog-old-trouble", "ALARM", 1),
        ];
        assert_eq!(judge(&quiet, &before, at(5), &[]), Verdict::Healthy);
        // A new alarm fires.
        let mut firing = quiet.to_vec();
        firing[0] = AlarmReading {
            reason: "Threshold Crossed".to_owned(),
            ..alarm("production-userlog-import-failures", "ALARM", 7)
        };
        assert_eq!(
            judge(&firing, &before, at(5), &[]),
            Verdict::RollBack(vec![
                "alarm production-userlog-import-failures is in ALARM: Threshold Crossed"
                    .to_owned()
            ])
        );
        // The old alarm went to ALARM again during the bake.
        let again = [alarm("production-userlog-old-trouble", "ALARM", 6)];
        assert!(matches!(
            judge(&again, &before, at(5), &[]),
            Verdict::RollBack(_)
        ));
    }

    #[test]
    fn errors_or_throttles_on_a_new_version_roll_it_back() {
        let health = |errors, throttles| VersionHealth {
            function: "validate-csv".to_owned(),
            version: "4".to_owned(),
            errors,
            throttles,
        };
        assert_eq!(
            judge(&[], &BTreeSet::new(), at(0), &[health(0.0, 0.0)]),
            Verdict::Healthy
        );
        assert_eq!(
            judge(&[], &BTreeSet::new(), at(0), &[health(0.0, 2.0)]),
            Verdict::RollBack(vec![
                "validate-csv version 4: 0 error(s), 2 throttle(s) since the canary started"
                    .to_owned()
            ])
        );
    }

    #[test]
    fn the_last_poll_ends_with_the_bake() {
        assert_eq!(
            next_poll(Duration::from_secs(3), Duration::from_secs(10)),
            Duration::from_secs(3)
        );
        assert_eq!(
            next_poll(Duration::from_secs(300), Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(human(Duration::from_secs(45)), "45s");
    }
}
