//! Deploys, rollbacks and uploads: the flow of a release over CloudFormation, Lambda, S3,
//! DynamoDB and Step Functions, with its decisions as pure functions.

pub mod adapt;
pub mod api;
pub mod bake;
pub mod bootstrap;
pub mod canary;
pub mod changeset;
pub mod database;
pub mod error;
pub mod events;
pub mod flow;
pub mod load;
pub mod lock;
pub mod migrate_task;
pub mod preview;
pub mod progress;
pub mod redrive;
pub mod release;
pub mod retry;
pub mod rollback;
pub mod sdk;
pub mod stack;
pub mod stack_policy;
pub mod target;
pub mod upload;
