//! The data lake's Glue table against what the export writes: the same columns with the same
//! types in the same order, the `dt` partition, and partition projection instead of a crawler.

use serde_yaml::Value;

use crate::cfn::{Template, as_list};

/// The Glue table of the export, by its type.
const TABLE_TYPE: &str = "AWS::Glue::Table";

/// The partition projection settings the table must carry for `dt` (Athena then reads
/// `<location>/dt=YYYY-MM-DD/` without registered partitions).
const PROJECTION: &[(&str, &str)] = &[
    ("projection.enabled", "true"),
    ("projection.dt.type", "date"),
    ("projection.dt.format", "yyyy-MM-dd"),
];

/// Problems of each Glue table of `template` against `columns`, the `(name, Glue type)` pairs the
/// writer writes in file order, as `(subject, message)`.
pub fn check_table(template: &Template<'_>, columns: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for table in template.of_type(TABLE_TYPE) {
        let subject = table.id.to_owned();
        let declared: Vec<(String, String)> = table
            .prop(&["TableInput", "StorageDescriptor", "Columns"])
            .map(as_list)
            .unwrap_or_default()
            .into_iter()
            .map(|column| (text(column, "Name"), text(column, "Type")))
            .collect();
        let written: Vec<(String, String)> = columns
            .iter()
            .map(|(name, kind)| ((*name).to_owned(), (*kind).to_owned()))
            .collect();
        if declared != written {
            problems.push((
                subject.clone(),
                format!(
                    "the columns are {} but the export writes {}; make TableInput.StorageDescriptor.Columns match userlog_export::COLUMNS",
                    show(&declared),
                    show(&written)
                ),
            ));
        }
        let partitions: Vec<(String, String)> = table
            .prop(&["TableInput", "PartitionKeys"])
            .map(as_list)
            .unwrap_or_default()
            .into_iter()
            .map(|column| (text(column, "Name"), text(column, "Type")))
            .collect();
        if partitions != [("dt".to_owned(), "string".to_owned())] {
            problems.push((
                subject.clone(),
                format!(
                    "the partition keys are {} but the export writes dt=YYYY-MM-DD: declare one key dt of type string",
                    show(&partitions)
                ),
            ));
        }
        for (name, expected) in PROJECTION {
            let found = table.prop(&["TableInput", "Parameters", name]).map(scalar);
            if found.as_deref() != Some(*expected) {
                problems.push((
                    subject.clone(),
                    format!(
                        "Parameters.{name} is {} but must be `{expected}`: the days are found by partition projection",
                        found.map_or("missing".to_owned(), |v| format!("`{v}`"))
                    ),
                ));
            }
        }
    }
    problems
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).map(scalar).unwrap_or_default()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => crate::cfn::short(other),
    }
}

fn show(columns: &[(String, String)]) -> String {
    let listed: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("{name} {kind}"))
        .collect();
    format!("({})", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITTEN: &[(&str, &str)] = &[("user_id", "string"), ("login_count", "int")];

    fn check(table: &str, expected: &[&str]) {
        let root: Value = serde_yaml::from_str(&format!(
            "Resources:\n  Table:\n    Type: AWS::Glue::Table\n    Properties:\n{table}"
        ))
        .unwrap();
        let template = Template::new(&root, "ap-northeast-1", "000000000000");
        let got: Vec<String> = check_table(&template, WRITTEN)
            .into_iter()
            .map(|(subject, message)| format!("{subject}: {message}"))
            .collect();
        assert_eq!(got, expected);
    }

    const PROJECTED: &str = "        Parameters: {projection.enabled: 'true', projection.dt.type: date, projection.dt.format: yyyy-MM-dd}\n        PartitionKeys: [{Name: dt, Type: string}]\n";

    #[test]
    fn a_table_that_matches_the_writer_passes() {
        check(
            &format!(
                "      TableInput:\n{PROJECTED}        StorageDescriptor:\n          Columns: [{{Name: user_id, Type: string}}, {{Name: login_count, Type: int}}]\n"
            ),
            &[],
        );
    }

    #[test]
    fn columns_types_order_partitions_and_projection_are_checked() {
        check(
            &format!(
                "      TableInput:\n{PROJECTED}        StorageDescriptor:\n          Columns: [{{Name: login_count, Type: int}}, {{Name: user_id, Type: string}}]\n"
            ),
            &[
                "Table: the columns are (login_count int, user_id string) but the export writes (user_id string, login_count int); make TableInput.StorageDescriptor.Columns match userlog_export::COLUMNS",
            ],
        );
        check(
            "      TableInput:\n        Parameters: {projection.enabled: true, projection.dt.type: integer}\n        PartitionKeys: [{Name: day, Type: date}]\n        StorageDescriptor:\n          Columns: [{Name: user_id, Type: string}, {Name: login_count, Type: bigint}]\n",
            &[
                "Table: the columns are (user_id string, login_count bigint) but the export writes (user_id string, login_count int); make TableInput.StorageDescriptor.Columns match userlog_export::COLUMNS",
                "Table: the partition keys are (day date) but the export writes dt=YYYY-MM-DD: declare one key dt of type string",
                "Table: Parameters.projection.dt.type is `integer` but must be `date`: the days are found by partition projection",
                "Table: Parameters.projection.dt.format is missing but must be `yyyy-MM-dd`: the days are found by partition projection",
            ],
        );
    }
}
