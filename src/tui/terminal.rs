//! Terminal setup and restore. Every way out restores the terminal: the
//! normal exit, an error (the guard's `Drop`), and a panic on the UI thread
//! (the hook). A panic on the trainer thread is caught there and reported as
//! an event, so the hook keeps quiet for it rather than printing over the
//! dashboard.

use std::io;
use std::panic;
use std::sync::Once;

use ratatui::DefaultTerminal;

/// Restores the terminal when dropped.
pub struct TerminalGuard {
    pub terminal: DefaultTerminal,
}

impl TerminalGuard {
    /// Raw mode and the alternate screen, and the panic hook.
    pub fn enter() -> io::Result<TerminalGuard> {
        let terminal = ratatui::try_init()?;
        install_panic_hook();
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // ratatui's hook (installed by try_init) restores and then prints.
        let restore_and_print = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with("trainer")) {
                return;
            }
            restore_and_print(info);
        }));
    });
}
