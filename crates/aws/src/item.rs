//! Conversion between the domain's serde records and DynamoDB items, through `serde_json::Value`.
//!
//! Numbers become `N`, strings `S`, booleans `BOOL`, arrays `L` and objects `M`; `null` fields are
//! left out of items. Reading also accepts the set types (`SS`, `NS`) as arrays.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::error::AwsError;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The attribute value of a JSON value.
pub fn to_attribute_value(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute_value).collect()),
        Value::Object(fields) => AttributeValue::M(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), to_attribute_value(v)))
                .collect(),
        ),
    }
}

/// The JSON value of an attribute value. Binary values have no JSON form and are refused.
pub fn from_attribute_value(value: &AttributeValue) -> Result<Value, AwsError> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(parse_number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => Value::Array(
            items
                .iter()
                .map(from_attribute_value)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(fields) => Value::Object(from_fields(fields)?),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(
            items
                .iter()
                .map(|n| parse_number(n).map(Value::Number))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(AwsError::Item(format!(
                "unsupported attribute type {other:?}"
            )));
        }
    })
}

fn parse_number(text: &str) -> Result<Number, AwsError> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Number::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(Number::from(u));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| AwsError::Item(format!("`{text}` is not a number")))
}

/// Fields in name order, so that converted values are deterministic.
fn from_fields(fields: &Item) -> Result<Map<String, Value>, AwsError> {
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| Ok((name.clone(), from_attribute_value(&fields[name])?)))
        .collect()
}

/// The item of a record; the record must serialise to a JSON object.
pub fn to_item<T: Serialize>(record: &T) -> Result<Item, AwsError> {
    match serde_json::to_value(record).map_err(|e| AwsError::Item(e.to_string()))? {
        Value::Object(fields) => Ok(fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), to_attribute_value(v)))
            .collect()),
        other => Err(AwsError::Item(format!(
            "a record must be an object, not {other}"
        ))),
    }
}

/// The record of an item.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, AwsError> {
    let value = Value::Object(from_fields(item)?);
    serde_json::from_value(value).map_err(|e| AwsError::Item(e.to_string()))
}

/// A string attribute of an item, if it has one.
pub fn string_attribute<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use expect_test::{Expect, expect};
    use userlog_domain::records::{
        AuditContext, AuditRecord, ErrorRecord, ErrorSource, ProcessingStage,
    };
    use userlog_domain::rules::{Counts, RowError};
    use userlog_domain::{Count, ErrorCode, UserId};

    use super::*;

    /// Renders an item with its attributes in name order.
    fn check(item: &Item, expected: &Expect) {
        let mut names: Vec<&String> = item.keys().collect();
        names.sort();
        let text: Vec<String> = names
            .into_iter()
            .map(|n| format!("{n} = {:?}", item[n]))
            .collect();
        expected.assert_eq(&text.join("\n"));
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn audit_records_round_trip() {
        let context = AuditContext {
            execution_name: "exec".into(),
            execution_arn: None,
            import_id: 4,
            as_of: at("2026-01-01T00:00:00Z"),
        };
        let counts = Counts {
            login_count: Count::new(5).unwrap(),
            post_count: Count::new(2_147_483_647).unwrap(),
        };
        let record = AuditRecord::statistics_update(
            &context,
            &UserId::parse("U1").unwrap(),
            Some(9),
            None,
            counts,
            at("2026-01-02T00:00:00Z"),
        );
        let item = to_item(&record).unwrap();
        check(
            &item,
            &expect![[r#"
                asOf = S("2026-01-01T00:00:00Z")
                executionName = S("exec")
                importId = N("4")
                line = N("9")
                newLoginCount = N("5")
                newPostCount = N("2147483647")
                processingType = S("statistics_update")
                status = S("success")
                timestamp = S("2026-01-02T00:00:00.000000Z#U1")
                ttl = N("1782864000")
                userId = S("U1")"#]],
        );
        assert_eq!(from_item::<AuditRecord>(&item).unwrap(), record);
    }

    #[test]
    fn error_records_round_trip() {
        let source = ErrorSource {
            execution_name: "exec".into(),
            stage: ProcessingStage::Apply,
            import_id: None,
            at: at("2026-01-02T00:00:00Z"),
            retry_count: 0,
        };
        let error = RowError {
            line: Some(3),
            user_id: None,
            code: ErrorCode::UserNotFound,
            message: "no user".into(),
        };
        let record = ErrorRecord::from_row_error(&source, &error);
        let item = to_item(&record).unwrap();
        check(
            &item,
            &expect![[r#"
                errorId = S("47dd20a9f9fc12a3a7c9f43f18bb2918a8f449dda503a5baacf3bdf39eaa92e4")
                errorMessage = S("no user")
                errorType = S("UserNotFound")
                executionName = S("exec")
                processingStage = S("apply")
                recordData = M({"line": N("3")})
                retryCount = N("0")
                severity = S("MEDIUM")
                timestamp = S("2026-01-02T00:00:00.000Z")
                ttl = N("1782864000")"#]],
        );
        assert_eq!(from_item::<ErrorRecord>(&item).unwrap(), record);
    }

    #[test]
    fn values_round_trip_and_sets_read_as_arrays() {
        let value = serde_json::json!({"a": [1, -2, 1.5, "x", true, {"b": null}], "big": 18_446_744_073_709_551_615u64});
        let back = from_attribute_value(&to_attribute_value(&value)).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"a": [1, -2, 1.5, "x", true, {}], "big": 18_446_744_073_709_551_615u64})
        );
        let set = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(
            from_attribute_value(&set).unwrap(),
            serde_json::json!([1, 2.5])
        );
        assert!(from_attribute_value(&AttributeValue::N("abc".into())).is_err());
        assert!(to_item(&5).is_err());
    }
}
