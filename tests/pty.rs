//! End to end in a real pseudo-terminal: `fitcheck tui` runs in a 100x30
//! pty (portable-pty), its output is fed to a terminal emulator (vt100) to
//! read the screen, keys are typed and signals sent, and then the checks a
//! user would make: the alternate screen is gone, the cursor is visible,
//! the restore sequences were written, and the run log is whole JSON lines
//! ending in a summary.
//!
//! Terminal modes are read as `stty` would, from the pty itself
//! (`tcgetattr` on the master side shares the terminal's settings): raw
//! while the dashboard runs, canonical with echo after. What the program
//! wrote is checked too (leaving the alternate screen, showing the cursor),
//! and the emulator's state after it.
//!
//! Every wait has a deadline (each test is bounded at ~10 s) and the child
//! is killed on failure, so a hang fails the test rather than CI.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const ROWS: u16 = 30;
const COLS: u16 = 100;

/// Leaves the alternate screen (DECRST 1049) and shows the cursor (DECTCEM).
const LEAVE_ALTERNATE_SCREEN: &[u8] = b"\x1b[?1049l";
const SHOW_CURSOR: &[u8] = b"\x1b[?25h";

/// A `fitcheck` in a pty, with the screen as a terminal would show it.
struct Session {
    child: Box<dyn Child + Send + Sync>,
    // Kept open for the child's lifetime: dropping the master hangs it up.
    _master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    output: Receiver<Vec<u8>>,
    parser: vt100::Parser,
    raw: Vec<u8>,
}

impl Session {
    fn spawn(args: &[&str]) -> Session {
        let pair = native_pty_system()
            .openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_fitcheck"));
        cmd.args(args);
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).expect("spawn fitcheck in the pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends with EOF or EIO once the child and its pty side are gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let size = |n: u16| NonZeroU16::new(n).expect("a pty is at least 1x1");
        let parser = vt100::Parser::new(size(ROWS), size(COLS), 0);
        Session { child, _master: pair.master, writer, output, parser, raw: Vec::new() }
    }

    /// Feeds what arrived within `wait` to the emulator; false once the output ended.
    fn pump(&mut self, wait: Duration) -> bool {
        match self.output.recv_timeout(wait) {
            Ok(bytes) => {
                self.parser.process(&bytes);
                self.raw.extend_from_slice(&bytes);
                while let Ok(more) = self.output.try_recv() {
                    self.parser.process(&more);
                    self.raw.extend_from_slice(&more);
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    fn screen(&self) -> String {
        self.parser.screen().contents()
    }

    /// Waits until the screen satisfies `ok`, or fails with the screen.
    fn wait_for(&mut self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if ok(&self.screen()) {
                return;
            }
            if Instant::now() > deadline || !self.pump(Duration::from_millis(50)) && !ok(&self.screen()) {
                let screen = self.screen();
                let _ = self.child.kill();
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
        }
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    fn signal(&mut self, name: &str) {
        let pid = self.child.process_id().expect("the child's pid");
        let status = std::process::Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status();
        assert!(status.unwrap().success(), "kill -{name} {pid}");
    }

    /// Waits for the exit (reading the last output) and returns the code.
    fn exit_code(&mut self, timeout: Duration) -> u32 {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump(Duration::from_millis(20));
            if let Some(status) = self.child.try_wait().unwrap() {
                // The output still in the pipe after the exit.
                let tail = Instant::now() + Duration::from_millis(500);
                while Instant::now() < tail && self.pump(Duration::from_millis(20)) {}
                return status.exit_code();
            }
            if Instant::now() > deadline {
                let screen = self.screen();
                let _ = self.child.kill();
                panic!("fitcheck did not exit within {timeout:?}; the screen:\n{screen}");
            }
        }
    }

    /// The terminal's line discipline: (canonical input, echo), as `stty`
    /// shows `icanon` and `echo`.
    fn line_modes(&self) -> (bool, bool) {
        let fd = self._master.as_raw_fd().expect("a unix pty has a file descriptor");
        // SAFETY: termios is plain data; tcgetattr fills it from a valid fd.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0, "tcgetattr on the pty");
        (t.c_lflag & libc::ICANON != 0, t.c_lflag & libc::ECHO != 0)
    }

    /// The checks a user makes after the program ends: a usable terminal.
    fn assert_terminal_restored(&self) {
        assert_eq!(self.line_modes(), (true, true), "stty would show -icanon or -echo: the terminal is still raw");
        let screen = self.parser.screen();
        assert!(!screen.alternate_screen(), "still in the alternate screen:\n{}", screen.contents());
        assert!(!screen.hide_cursor(), "the cursor is still hidden");
        let wrote = |seq: &[u8]| self.raw.windows(seq.len()).any(|w| w == seq);
        assert!(wrote(LEAVE_ALTERNATE_SCREEN), "never left the alternate screen");
        assert!(wrote(SHOW_CURSOR), "never showed the cursor again");
        // The restore comes after the last frame: nothing drawn after it.
        let last_leave = self.raw.windows(LEAVE_ALTERNATE_SCREEN.len()).rposition(|w| w == LEAVE_ALTERNATE_SCREEN);
        let last_enter = self.raw.windows(8).rposition(|w| w == b"\x1b[?1049h");
        assert!(last_leave > last_enter, "the alternate screen was entered again after leaving it");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The run log: whole JSON lines, the last a summary; returns that summary.
fn log_summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the run log exists");
    assert!(text.ends_with('\n'), "the log ends with a whole line");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("cut line ({e}): {l}"))).collect();
    assert_eq!(lines.first().map(|l| l["type"].clone()), Some("start".into()), "the log starts with the run");
    let last = lines.last().unwrap().clone();
    assert_eq!(last["type"], "summary", "the log ends with a summary: {last}");
    last
}

/// The dashboard on spirals, long enough to be running when the test acts,
/// with a key already handled (`+` doubles the learning rate).
fn dashboard(log: &Path) -> Session {
    let mut s = Session::spawn(&["tui", "spirals", "--set", "epochs=100000", "--metrics", log.to_str().unwrap()]);
    s.wait_for("the dashboard", Duration::from_secs(5), |screen| {
        screen.contains("spirals") && screen.contains("epoch")
    });
    assert!(s.parser.screen().alternate_screen(), "the dashboard draws in the alternate screen");
    assert_eq!(s.line_modes(), (false, false), "the dashboard runs the terminal raw");
    s.send("+");
    s.wait_for("the doubled learning rate", Duration::from_secs(3), |screen| screen.contains("0.02"));
    s
}

#[test]
fn quitting_with_q_restores_the_terminal_and_closes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let mut s = dashboard(&log);
    s.send("q");
    assert_eq!(s.exit_code(Duration::from_secs(5)), 0);
    s.assert_terminal_restored();
    let summary = log_summary(&log);
    assert_eq!(summary["stopped"], "interrupted", "quit mid-run: {summary}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(r#""type":"change""#) && text.contains(r#""key":"lr""#), "the `+` is in the log");
}

/// A signal to the dashboard: the terminal restored and the signal's exit
/// code (128 + its number); the log whole lines. With `interrupted`, also
/// the graceful end: a summary marked `interrupted` closes the log.
fn signal_restores(name: &str, code: u32, interrupted: bool) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let mut s = dashboard(&log);
    s.signal(name);
    assert_eq!(s.exit_code(Duration::from_secs(5)), code, "SIG{name}");
    s.assert_terminal_restored();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "SIG{name}: the log ends with a whole line");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("SIG{name}: cut line ({e}): {line}"));
    }
    if interrupted {
        let summary = log_summary(&log);
        assert_eq!(summary["stopped"], "interrupted", "SIG{name}: {summary}");
    }
}

#[test]
fn signals_restore_the_terminal_with_their_exit_codes() {
    for (name, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        signal_restores(name, code, false);
    }
}

#[test]
fn signal_wiring_sigterm_ends_the_run_with_an_interrupted_summary() {
    signal_restores("TERM", 143, true);
}

#[test]
fn signal_wiring_sigint_ends_the_run_with_an_interrupted_summary() {
    signal_restores("INT", 130, true);
}

#[test]
fn signal_wiring_sighup_ends_the_run_with_an_interrupted_summary() {
    signal_restores("HUP", 129, true);
}

/// `fitcheck watch -` with a pipe on standard input (a named pipe, so the
/// test writes it as `tail -f … |` would) and the dashboard on the pty:
/// epochs show as lines arrive, a half-written line waits, and when the
/// pipe closes the dashboard says "stream ended" and stays until `q`.
#[test]
fn watch_follows_a_pipe_on_standard_input_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let bin = env!("CARGO_BIN_EXE_fitcheck");
    let script = format!("exec '{bin}' watch - < '{}'", fifo.display());
    let pair = native_pty_system()
        .openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })
        .expect("open a pty");
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", &script]);
    cmd.env("TERM", "xterm-256color");
    let child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer = pair.master.take_writer().unwrap();
    let (tx, output) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let size = |n: u16| NonZeroU16::new(n).unwrap();
    let mut s = Session {
        child,
        _master: pair.master,
        writer,
        output,
        parser: vt100::Parser::new(size(ROWS), size(COLS), 0),
        raw: Vec::new(),
    };
    // Opening the pipe for writing blocks until the shell opened it to read.
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let line = |e: u32| {
        let v = 1.0 / f64::from(e + 1);
        format!(
            "{{\"epoch\":{e},\"step\":{},\"train_loss\":{v},\"val_loss\":{},\"val_acc\":0.{e}5}}\n",
            e * 10,
            v + 0.1
        )
    };
    pipe.write_all(line(0).as_bytes()).unwrap();
    pipe.write_all(line(1).as_bytes()).unwrap();
    s.wait_for("the first two epochs", Duration::from_secs(5), |sc| sc.contains("watching") && sc.contains("epoch 2:"));
    // Half a line: nothing new until the rest comes.
    let third = line(2);
    pipe.write_all(&third.as_bytes()[..20]).unwrap();
    pipe.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    s.pump(Duration::from_millis(100));
    assert!(!s.screen().contains("epoch 3:"), "{}", s.screen());
    pipe.write_all(&third.as_bytes()[20..]).unwrap();
    s.wait_for("the third epoch", Duration::from_secs(3), |sc| sc.contains("epoch 3:"));
    drop(pipe);
    s.wait_for("stream ended", Duration::from_secs(3), |sc| sc.contains("stream ended"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.child.try_wait().unwrap().is_none(), "the dashboard stays after the end of the stream");
    assert!(s.screen().contains("epoch 3:"), "what was read stays: {}", s.screen());
    s.send("q");
    assert_eq!(s.exit_code(Duration::from_secs(5)), 0);
    s.assert_terminal_restored();
}

/// Closing the terminal itself (a window closed, `tmux kill-session`: the
/// pty master shut while the dashboard writes to it) ends the run as SIGHUP
/// does — exit 129, a summary marked `interrupted` — instead of aborting
/// when the restore cannot write to the terminal.
#[test]
fn closing_the_terminal_ends_the_run_as_a_hangup() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let pair = native_pty_system()
        .openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })
        .expect("open a pty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_fitcheck"));
    cmd.args(["tui", "spirals", "--set", "epochs=100000", "--metrics", log.to_str().unwrap()]);
    cmd.cwd(env!("CARGO_MANIFEST_DIR"));
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn fitcheck in the pty");
    drop(pair.slave);
    // Read the first frames so the dashboard is running, then close every
    // handle on the master side at once.
    let mut reader = pair.master.try_clone_reader().expect("pty reader");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&seen).contains("epoch") && Instant::now() < deadline {
        match reader.read(&mut buf) {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    assert!(String::from_utf8_lossy(&seen).contains("epoch"), "the dashboard drew");
    std::thread::sleep(Duration::from_millis(300));
    drop(reader);
    drop(pair.master);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fitcheck did not exit after its terminal closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.exit_code(), 129, "as SIGHUP, not an abort (134)");
    let summary = log_summary(&log);
    assert_eq!(summary["stopped"], "interrupted", "{summary}");
}
