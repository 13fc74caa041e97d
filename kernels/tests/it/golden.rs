//! The golden suite must reproduce the committed hashes in every mode: scalar and SIMD,
//! one thread and several.

use pinpoint_kernels::golden;
use pinpoint_kernels::{Cpu, SimdPolicy};

const HASHES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/hashes.txt");

fn modes() -> Vec<(String, Cpu)> {
    let mut v = vec![
        ("scalar/1".to_string(), Cpu::scalar()),
        ("auto/1".to_string(), Cpu::single()),
    ];
    for threads in [2, 3] {
        for (p, name) in [(SimdPolicy::Scalar, "scalar"), (SimdPolicy::Auto, "auto")] {
            v.push((format!("{name}/{threads}"), Cpu::new(threads, p).unwrap()));
        }
    }
    v
}

#[test]
fn golden_suite_reproduces_committed_hashes_in_every_mode() {
    if std::env::var_os("PINPOINT_BLESS").is_some() {
        let rows = golden::run(&Cpu::scalar(), |_, _| {}).unwrap();
        std::fs::write(HASHES, golden::render(&rows)).unwrap();
        eprintln!("blessed {} rows into {HASHES}", rows.len());
    }
    let text = std::fs::read_to_string(HASHES).unwrap();
    let expected = golden::parse(&text).unwrap();
    assert!(
        !expected.is_empty(),
        "no committed golden hashes: run with PINPOINT_BLESS=1 once"
    );
    let mut failures = Vec::new();
    for (mode, cx) in modes() {
        let rows = golden::run(&cx, |_, _| {}).unwrap();
        for check in golden::compare(&rows, &expected) {
            if !check.ok() {
                failures.push(format!(
                    "{mode}: {} {} got {} expected {:?}",
                    check.row.name, check.row.shape, check.row.hash, check.expected
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_case_is_committed_and_names_are_unique() {
    let rows = golden::run(&Cpu::single(), |_, _| {}).unwrap();
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate golden row names");
    let committed = golden::expected().unwrap();
    assert_eq!(
        committed.len(),
        rows.len(),
        "golden rows and committed hashes differ in count"
    );
}
