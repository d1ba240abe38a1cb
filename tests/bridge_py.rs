//! The Python bridge's core tests (`integrations/python/tests/test_core.py`,
//! standard library only) run by `cargo test` with the system `python3`, so
//! CI checks the bridge whenever it checks the dashboard that reads it. The
//! framework tests (Lightning, Keras, HF) need the frameworks and run by
//! hand through `integrations/python/run_tests.sh` (see its README).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_bridges_core_tests_pass_with_the_system_python() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integrations/python");
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-p", "test_core.py", "-v"])
        .current_dir(&root)
        // Keep the source tree free of __pycache__ folders.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 (3.9 or newer) is needed to run the bridge's core tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 -m unittest test_core.py failed:\n{stderr}");
    // unittest reports on stderr: "Ran N tests" then "OK". A discovery that
    // found nothing also exits 0 ("Ran 0 tests", "NO TESTS RAN" on 3.12+).
    let ran = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(0);
    assert!(ran >= 10, "the core tests were not found (ran {ran}):\n{stderr}");
    assert!(stderr.lines().any(|l| l.trim() == "OK" || l.starts_with("OK (")), "{stderr}");
}
