//! End-to-end tests of the `pinpoint` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Dev-dependencies are shared by every test, bench and example target; each uses some.
#![allow(unused_crate_dependencies)]

use std::process::Command;

fn pinpoint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinpoint"))
        .args(args)
        .output()
        .expect("the pinpoint binary runs")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn selftest_passes_with_one_and_two_threads() {
    for threads in ["1", "2"] {
        let o = pinpoint(&["kernels", "selftest", "--threads", threads]);
        assert!(o.status.success(), "threads={threads}: {}", stdout(&o));
        assert!(stdout(&o).contains(" 0 failed"), "{}", stdout(&o));
    }
    let o = pinpoint(&["kernels", "selftest", "--scalar", "--threads", "2"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn selftest_fails_on_a_wrong_hash() {
    let dir = std::env::temp_dir().join(format!("pinpoint-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let committed = pinpoint_kernels::golden::EXPECTED_HASHES;
    // Flip the last hex digit of the first row.
    let mut lines: Vec<String> = committed.lines().map(str::to_string).collect();
    let first = lines
        .iter()
        .position(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap();
    let last = lines[first].pop().unwrap();
    lines[first].push(if last == '0' { '1' } else { '0' });
    let path = dir.join("wrong.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let o = pinpoint(&[
        "kernels",
        "selftest",
        "--threads",
        "1",
        "--expected",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("MISMATCH"));
    assert!(stdout(&o).contains(" 1 failed"));

    std::fs::write(&path, "not a hashes file\n").unwrap();
    let o = pinpoint(&["kernels", "selftest", "--expected", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("parsing golden hashes"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 16, defect 6: an empty golden file would check nothing: it is refused.
#[test]
fn an_empty_expected_file_is_refused() {
    let path = std::env::temp_dir().join(format!("pinpoint-empty-golden-{}", std::process::id()));
    std::fs::write(&path, "").unwrap();
    let o = pinpoint(&["kernels", "selftest", "--expected", path.to_str().unwrap()]);
    let all = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(all.contains("no golden hashes"), "{all}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_arguments_are_refused() {
    let o = pinpoint(&["kernels", "selftest", "--threads", "0"]);
    assert!(!o.status.success());
    let o = pinpoint(&["kernels", "selftest", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("--threads"));
}
