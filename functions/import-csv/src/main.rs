//! The `import-csv` function (being built).

fn main() {}
