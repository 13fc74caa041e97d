//! Child processes of the devnet (anvil, `pinpoint node`s): each writes stdout and stderr to
//! a log file of its own, dies with the devnet (Linux: `PR_SET_PDEATHSIG`, so that even a
//! devnet killed with SIGKILL leaves nothing running), and is stopped when dropped. A group
//! ([`Children`]) stops together: SIGTERM to every one, a grace period, then SIGKILL.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long a child has to stop after SIGTERM before it is killed.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(10);

/// Lines of a log shown when its process failed.
pub(super) const TAIL_LINES: usize = 15;

/// One child process and its log file.
#[derive(Debug)]
pub(super) struct Proc {
    /// `anvil`, `trainer-1`, …
    pub(super) name: String,
    child: Child,
    /// Where its stdout and stderr go.
    pub(super) log: PathBuf,
    /// Set once it was reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` as `name`, appending its stdout and stderr to `log` (a restarted node
    /// keeps one log).
    ///
    /// Errors: the log cannot be opened, or the program cannot be started.
    pub(super) fn spawn(name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("opening {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: the closure runs in the forked child before exec and only calls
            // `prctl`, which is async-signal-safe. The devnet spawns from the thread that runs
            // it to the end (the parent-death signal follows the spawning thread).
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            status: None,
        })
    }

    /// Its exit status, if it has exited (reaps it).
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Its process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&mut self, sig: libc::c_int) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: `kill` has no memory preconditions; the pid is our unreaped child's, so
            // it cannot have been reused.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// SIGKILL now, and reap it.
    pub(super) fn kill_now(&mut self) {
        self.signal(libc::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
    }

    /// Why it failed, for an error: its exit status, its log and the log's last lines.
    pub(super) fn failure(&mut self) -> String {
        let status = self.exited().map_or_else(
            || "is still running".to_string(),
            |s| format!("exited ({s})"),
        );
        format!(
            "{} {status}; its log is {}{}",
            self.name,
            self.log.display(),
            tail(&self.log, TAIL_LINES)
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// The last `n` lines of the file at `path` (a read of its last 64 KiB), each indented, after
/// a line `, last lines:`; empty when there is nothing to show.
pub(super) fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    if f.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(n);
    let mut out = String::from(", last lines:");
    for l in &lines[start..] {
        out.push_str("\n    ");
        out.push_str(l);
    }
    out
}

/// Processes that stop together: on drop, SIGTERM to each, up to [`STOP_GRACE`] for all of
/// them to exit, then SIGKILL to those left.
#[derive(Debug, Default)]
pub(super) struct Children(pub(super) Vec<Proc>);

impl Children {
    /// The first child that exited, if any.
    pub(super) fn dead(&mut self) -> Option<&mut Proc> {
        let i = self.0.iter_mut().position(|p| p.exited().is_some())?;
        self.0.get_mut(i)
    }

    /// The child named `name`.
    pub(super) fn named(&mut self, name: &str) -> Option<&mut Proc> {
        self.0.iter_mut().find(|p| p.name == name)
    }

    /// Stops every child: SIGTERM, then SIGKILL after `grace`.
    pub(super) fn stop(&mut self, grace: Duration) {
        for p in &mut self.0 {
            p.signal(libc::SIGTERM);
        }
        let until = Instant::now() + grace;
        while Instant::now() < until && self.0.iter_mut().any(|p| p.exited().is_none()) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in &mut self.0 {
            p.kill_now();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_child_names_its_log_and_last_lines() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("x.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in 1 2 3 4 5; do echo line $i; done; exit 3"]);
        let mut p = Proc::spawn("x", &mut cmd, &log).expect("starts");
        let until = Instant::now() + Duration::from_secs(10);
        while p.exited().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let f = p.failure();
        assert!(f.starts_with("x exited (exit status: 3)"), "{f}");
        assert!(f.contains(&log.display().to_string()), "{f}");
        assert!(f.contains("line 5") && f.contains("line 1"), "{f}");
        assert_eq!(tail(&log, 2), ", last lines:\n    line 4\n    line 5");
    }

    #[test]
    fn children_are_stopped_with_sigterm_then_sigkill() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut polite = Command::new("sleep");
        polite.arg("60");
        // Ignores SIGTERM: only SIGKILL after the grace period stops it.
        let mut stubborn = Command::new("sh");
        stubborn.args([
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ]);
        let mut c = Children::default();
        c.0.push(Proc::spawn("polite", &mut polite, &dir.path().join("a.log")).expect("a"));
        c.0.push(Proc::spawn("stubborn", &mut stubborn, &dir.path().join("b.log")).expect("b"));
        assert!(c.dead().is_none());
        let until = Instant::now() + Duration::from_secs(10);
        while !tail(&dir.path().join("b.log"), 1).contains("ready") && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let t = Instant::now();
        c.stop(Duration::from_millis(500));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(c.0.iter_mut().all(|p| p.exited().is_some()));
        let signals: Vec<Option<i32>> =
            c.0.iter_mut()
                .map(|p| {
                    use std::os::unix::process::ExitStatusExt as _;
                    p.exited().and_then(|s| s.signal())
                })
                .collect();
        assert_eq!(signals, [Some(libc::SIGTERM), Some(libc::SIGKILL)]);
    }
}
