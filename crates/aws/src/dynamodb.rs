//! The two DynamoDB tables: the audit trail (`ProcessingLogs`) and the error log
//! (`csv-processing-errors`), written in batches and read by execution.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use userlog_domain::records::{AuditRecord, ErrorRecord};

use crate::error::AwsError;
use crate::item::{Item, from_item, string_attribute, to_item};

/// The most items one `BatchWriteItem` call takes.
pub const MAX_BATCH_ITEMS: usize = 25;

/// The error table's index by execution (partition key `executionName`, sort key `timestamp`).
pub const EXECUTION_NAME_INDEX: &str = "ExecutionName-index";

/// The audit table's index by user (partition key `userId`, sort key `timestamp`).
pub const USER_ID_INDEX: &str = "UserIdIndex";

/// Where a page of a user's audit records ends: the keys of its last record in `UserIdIndex`
/// (the index's and the table's), from which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKey {
    pub user_id: String,
    pub timestamp: String,
    pub execution_name: String,
}

/// One page of a user's audit records, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Where the next page starts, when DynamoDB says there may be one.
    pub next: Option<AuditKey>,
}

/// How `UnprocessedItems` are retried: exponential delays from `first`, at most `max`, for at
/// most `attempts` calls in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(5),
            attempts: 10,
        }
    }
}

impl Backoff {
    /// The delay before the `retry`-th retry (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// The audit trail: one record per change to a user's statistics.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub backoff: Backoff,
}

impl AuditLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> AuditLog {
        AuditLog {
            client,
            table: table.into(),
            backoff: Backoff::default(),
        }
    }

    /// Writes records, overwriting those with the same key (a retried batch writes the same keys).
    pub async fn put(&self, records: &[AuditRecord]) -> Result<(), AwsError> {
        let items = records
            .iter()
            .map(|r| {
                Ok((
                    format!("{}\u{0}{}", r.execution_name, r.timestamp),
                    to_item(r)?,
                ))
            })
            .collect::<Result<Vec<_>, AwsError>>()?;
        batch_put(&self.client, &self.table, items, self.backoff).await
    }

    /// At most `limit` of a user's records through [`USER_ID_INDEX`], newest first, starting
    /// after `after`. An item that does not read as a record is left out (and logged).
    pub async fn for_user(
        &self,
        user_id: &str,
        limit: i32,
        after: Option<&AuditKey>,
    ) -> Result<AuditPage, AwsError> {
        let start = after.map(|key| {
            Item::from([
                ("userId".to_owned(), AttributeValue::S(key.user_id.clone())),
                (
                    "timestamp".to_owned(),
                    AttributeValue::S(key.timestamp.clone()),
                ),
                (
                    "executionName".to_owned(),
                    AttributeValue::S(key.execution_name.clone()),
                ),
            ])
        });
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(USER_ID_INDEX)
            .key_condition_expression("#user = :user")
            .expression_attribute_names("#user", "userId")
            .expression_attribute_values(":user", AttributeValue::S(user_id.to_owned()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(AwsError::service("DynamoDB Query"))?;
        let records = page
            .items()
            .iter()
            .filter_map(|item| match from_item::<AuditRecord>(item) {
                Ok(record) => Some(record),
                Err(err) => {
                    tracing::warn!(
                        user_id,
                        timestamp = string_attribute(item, "timestamp"),
                        error = %err,
                        "an audit record does not read as a record"
                    );
                    None
                }
            })
            .collect();
        let next = page
            .last_evaluated_key()
            .filter(|key| !key.is_empty())
            .map(|key| AuditKey {
                user_id: string_attribute(key, "userId")
                    .unwrap_or_default()
                    .to_owned(),
                timestamp: string_attribute(key, "timestamp")
                    .unwrap_or_default()
                    .to_owned(),
                execution_name: string_attribute(key, "executionName")
                    .unwrap_or_default()
                    .to_owned(),
            });
        Ok(AuditPage { records, next })
    }
}

/// The error log: one record per error, keyed so that retries overwrite.
#[derive(Debug, Clone)]
pub struct ErrorLog {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub backoff: Backoff,
}

impl ErrorLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> ErrorLog {
        ErrorLog {
            client,
            table: table.into(),
            backoff: Backoff::default(),
        }
    }

    /// Writes records, overwriting those with the same key.
    pub async fn put(&self, records: &[ErrorRecord]) -> Result<(), AwsError> {
        let items = records
            .iter()
            .map(|r| Ok((format!("{}\u{0}{}", r.error_id, r.timestamp), to_item(r)?)))
            .collect::<Result<Vec<_>, AwsError>>()?;
        batch_put(&self.client, &self.table, items, self.backoff).await
    }

    /// Every error record of an execution, through the `ExecutionName-index` index, page by page.
    ///
    /// An item that does not read as a record is still returned, as
    /// [`ErrorRecord::unreadable`], so that it is counted and shown.
    pub async fn for_execution(&self, execution_name: &str) -> Result<Vec<ErrorRecord>, AwsError> {
        let mut records = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(EXECUTION_NAME_INDEX)
                .key_condition_expression("#name = :name")
                .expression_attribute_names("#name", "executionName")
                .expression_attribute_values(":name", AttributeValue::S(execution_name.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(AwsError::service("DynamoDB Query"))?;
            records.extend(
                page.items()
                    .iter()
                    .map(|item| read_error_record(execution_name, item)),
            );
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(records)
    }

    /// The first `max` error records of an execution through `index` (oldest first), and
    /// whether there are more.
    pub async fn first_for_execution(
        &self,
        index: &str,
        execution_name: &str,
        max: usize,
    ) -> Result<(Vec<ErrorRecord>, bool), AwsError> {
        let mut records = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let remaining = max.saturating_sub(records.len()).clamp(1, 1000);
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#name = :name")
                .expression_attribute_names("#name", "executionName")
                .expression_attribute_values(":name", AttributeValue::S(execution_name.to_owned()))
                .limit(i32::try_from(remaining).unwrap_or(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(AwsError::service("DynamoDB Query"))?;
            records.extend(
                page.items()
                    .iter()
                    .map(|item| read_error_record(execution_name, item)),
            );
            let more = page.last_evaluated_key().is_some_and(|key| !key.is_empty());
            if records.len() >= max || !more {
                let truncated = records.len() > max || more;
                records.truncate(max);
                return Ok((records, truncated));
            }
            start = page.last_evaluated_key().cloned();
        }
    }
}

fn read_error_record(execution_name: &str, item: &Item) -> ErrorRecord {
    from_item(item).unwrap_or_else(|err: AwsError| {
        let error_id = string_attribute(item, "errorId");
        tracing::warn!(error_id, error = %err, "an error record does not read as a record");
        ErrorRecord::unreadable(
            execution_name,
            error_id,
            string_attribute(item, "timestamp"),
            &err.to_string(),
        )
    })
}

/// Writes items in batches of [`MAX_BATCH_ITEMS`], retrying unprocessed ones with backoff.
/// Items are keyed by `(dedupe key, item)`: of items with the same key, the last one is written
/// (one batch must not hold the same key twice).
async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<(String, Item)>,
    backoff: Backoff,
) -> Result<(), AwsError> {
    for chunk in dedupe(items).chunks(MAX_BATCH_ITEMS) {
        let mut pending = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(|e| AwsError::Item(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, AwsError>>()?;
        let mut attempt = 1;
        loop {
            let output = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(AwsError::service("DynamoDB BatchWriteItem"))?;
            let unprocessed = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(table))
                .unwrap_or_default();
            if unprocessed.is_empty() {
                break;
            }
            if attempt >= backoff.attempts {
                return Err(AwsError::Unprocessed {
                    table: table.to_owned(),
                    count: unprocessed.len(),
                    attempts: attempt,
                });
            }
            tracing::debug!(
                table,
                unprocessed = unprocessed.len(),
                attempt,
                "retrying unprocessed items"
            );
            tokio::time::sleep(backoff.delay(attempt)).await;
            attempt += 1;
            pending = unprocessed;
        }
    }
    Ok(())
}

fn dedupe(items: Vec<(String, Item)>) -> Vec<Item> {
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<Item> = Vec::with_capacity(items.len());
    for (key, item) in items {
        match position.get(&key) {
            Some(&index) => unique[index] = item,
            None => {
                position.insert(key, unique.len());
                unique.push(item);
            }
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use userlog_domain::ErrorCode;
    use userlog_domain::records::{ErrorSource, ProcessingStage, UNREADABLE_RECORD};

    use super::*;
    use crate::testing::{FakeAws, Reply};

    fn error_log(fake: &FakeAws) -> ErrorLog {
        let client = aws_sdk_dynamodb::Client::new(&fake.sdk_config());
        let backoff = Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
            attempts: 3,
        };
        ErrorLog {
            client,
            table: "errors".into(),
            backoff,
        }
    }

    fn records(count: u64) -> Vec<ErrorRecord> {
        let at: DateTime<Utc> = "2026-01-02T00:00:00Z".parse().unwrap();
        let source = ErrorSource {
            execution_name: "exec".into(),
            stage: ProcessingStage::Apply,
            import_id: Some(1),
            at,
            retry_count: 0,
        };
        (1..=count)
            .map(|line| {
                let error = userlog_domain::rules::RowError {
                    line: Some(line),
                    user_id: None,
                    code: ErrorCode::UserNotFound,
                    message: "no user".into(),
                };
                ErrorRecord::from_row_error(&source, &error)
            })
            .collect()
    }

    fn put_count(request: &crate::testing::Request) -> usize {
        request.json()["RequestItems"]["errors"]
            .as_array()
            .unwrap()
            .len()
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let backoff = Backoff::default();
        let delays: Vec<u128> = (1..=9).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[tokio::test]
    async fn writes_in_batches_of_25_and_retries_unprocessed_items() {
        let all = records(30);
        let unprocessed = json!({"UnprocessedItems": {"errors": [{"PutRequest": {"Item": {
            "errorId": {"S": all[0].error_id}, "timestamp": {"S": all[0].timestamp}
        }}}]}});
        let fake = FakeAws::start(vec![
            Reply::json(&unprocessed),
            Reply::json(&json!({"UnprocessedItems": {}})),
            Reply::json(&json!({})),
        ]);
        let log = error_log(&fake);
        // A record given twice is written once.
        let mut with_repeat = all.clone();
        with_repeat.push(all[29].clone());
        log.put(&with_repeat).await.unwrap();
        let requests = fake.finish();
        assert_eq!(
            requests.iter().map(put_count).collect::<Vec<_>>(),
            vec![25, 1, 5]
        );
        assert_eq!(
            requests[0].header("x-amz-target"),
            Some("DynamoDB_20120810.BatchWriteItem")
        );
    }

    #[tokio::test]
    async fn gives_up_when_items_stay_unprocessed() {
        let all = records(1);
        let unprocessed = json!({"UnprocessedItems": {"errors": [{"PutRequest": {"Item": {"errorId": {"S": all[0].error_id}}}}]}});
        let fake = FakeAws::start(vec![
            Reply::json(&unprocessed),
            Reply::json(&unprocessed),
            Reply::json(&unprocessed),
        ]);
        let err = error_log(&fake).put(&all).await.unwrap_err();
        fake.finish();
        assert_eq!(
            err.to_string(),
            "1 items for table `errors` were still unprocessed after 3 attempts"
        );
    }

    #[tokio::test]
    async fn reads_every_page_of_an_execution() {
        let all = records(3);
        let item = |r: &ErrorRecord| {
            serde_json::to_value(
                to_item(r)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k, wire(&v)))
                    .collect::<serde_json::Map<_, _>>(),
            )
            .unwrap()
        };
        let fake = FakeAws::start(vec![
            Reply::json(&json!({"Items": [item(&all[0]), item(&all[1])], "Count": 2,
                "LastEvaluatedKey": {"errorId": {"S": all[1].error_id}, "timestamp": {"S": all[1].timestamp}, "executionName": {"S": "exec"}}})),
            Reply::json(
                &json!({"Items": [item(&all[2]), {"errorId": {"S": "odd"}, "executionName": {"S": "exec"}}], "Count": 2}),
            ),
        ]);
        let found = error_log(&fake).for_execution("exec").await.unwrap();
        let requests = fake.finish();
        assert_eq!(&found[..3], &all[..]);
        assert_eq!(
            (found[3].error_type.as_str(), found[3].error_id.as_str()),
            (UNREADABLE_RECORD, "odd")
        );
        let first = requests[0].json();
        assert_eq!(first["IndexName"], "ExecutionName-index");
        assert_eq!(
            first["ExpressionAttributeValues"][":name"],
            json!({"S": "exec"})
        );
        assert_eq!(first.get("ExclusiveStartKey"), None);
        assert_eq!(
            requests[1].json()["ExclusiveStartKey"]["errorId"],
            json!({"S": all[1].error_id})
        );
    }

    /// The DynamoDB wire form of an attribute value.
    fn wire(value: &AttributeValue) -> serde_json::Value {
        match value {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::Bool(b) => json!({"BOOL": b}),
            AttributeValue::M(m) => {
                json!({"M": m.iter().map(|(k, v)| (k.clone(), wire(v))).collect::<serde_json::Map<_, _>>()})
            }
            AttributeValue::L(l) => json!({"L": l.iter().map(wire).collect::<Vec<_>>()}),
            other => panic!("no wire form for {other:?} in this test"),
        }
    }
}
