//! The one place that builds AWS clients, and the adapters the functions use (S3 reads, DynamoDB records, notifications, metrics).
