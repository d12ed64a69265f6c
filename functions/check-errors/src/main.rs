//! The `check-errors` function (being built).

fn main() {}
