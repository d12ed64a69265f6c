//! Following executions of the import state machine: an execution's details and history as plain
//! data (`history`, converted from the Step Functions SDK's types in one place), the reads that
//! fetch them (`sfn`), and the timeline of its states (`timeline`), a pure function of the
//! history that the tooling prints and the statistics API serves.

pub mod history;
pub mod sfn;
pub mod timeline;

pub use history::{ExecutionDetails, HistoryEvent};
pub use timeline::{StateRun, StateStatus, timeline};
