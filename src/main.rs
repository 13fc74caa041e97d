//! The `pinpoint` command-line tool.

fn main() {}
