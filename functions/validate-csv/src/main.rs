//! The `validate-csv` function (being built).

fn main() {}
