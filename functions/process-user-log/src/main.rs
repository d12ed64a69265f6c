//! The `process-user-log` function (being built).

fn main() {}
