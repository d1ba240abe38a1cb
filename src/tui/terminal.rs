//! Terminal setup and restore. Every way out restores the terminal: the
//! normal exit, an error (the guard's `Drop`), and a panic on the UI thread
//! (the hook). A panic on the trainer thread is caught there and reported as
//! an event, so the hook keeps quiet for it rather than printing over the
//! dashboard.
//!
//! Restoring never panics and never prints: when the terminal itself is gone
//! (its window closed, the pty master shut) every write to it fails, and a
//! restore that reported the failure with `eprintln!` would panic inside the
//! panic hook and abort the process before the run log got its summary.
//! That is why the terminal is set up here rather than with `ratatui::init`,
//! whose restore prints its errors.

use std::io::{self, Stdout};
use std::panic;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::crossterm::{cursor, execute};

/// Raw mode and the alternate screen are on.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Restores the terminal when dropped.
pub struct TerminalGuard {
    /// Always `Some` until the drop.
    terminal: Option<Terminal<CrosstermBackend<Stdout>>>,
}

impl TerminalGuard {
    /// Raw mode and the alternate screen, and the panic hook.
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let setup = execute!(io::stdout(), EnterAlternateScreen)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match setup {
            Ok(terminal) => Ok(TerminalGuard { terminal: Some(terminal) }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl TerminalGuard {
    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        self.terminal.as_mut().expect("the terminal lives as long as its guard")
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        // ratatui's own drop shows a cursor it hid and reports a failure
        // with `eprintln!`, which panics when stderr is the terminal that
        // went away: show it here, and when that fails the terminal is gone
        // and the `Terminal` is leaked rather than dropped (a few buffers,
        // at exit).
        if let Some(mut terminal) = self.terminal.take()
            && terminal.show_cursor().is_err()
        {
            std::mem::forget(terminal);
        }
    }
}

/// Raw mode off, the main screen back, the cursor shown: each step tried
/// even when another failed, errors ignored (a terminal that is gone cannot
/// be restored, and must not turn the exit into an abort). Idempotent.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let print = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with("trainer")) {
                return;
            }
            restore();
            // The standard hook ignores a stderr that cannot be written.
            print(info);
        }));
    });
}
