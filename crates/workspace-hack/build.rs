//! A build script, so that cargo takes the `[build-dependencies]` of this crate into account.

fn main() {}
