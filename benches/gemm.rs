//! GEMM benchmark (being written).
fn main() {}
