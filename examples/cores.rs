//! Do the machine's cores run at full speed side by side? No fitcheck code:
//! THREADS threads, each pinned to its own CPU, run a register-only loop of
//! multiply-adds (no memory traffic, nothing shared), and every 200 ms the
//! work each finished is printed. On a machine whose cores are its own,
//! two threads each run as fast as one. On this VM the host sometimes runs
//! both of the guest's CPUs on one physical core: both threads then drop to
//! half speed at once, for a fraction of a second to several seconds, which
//! one thread never shows. That is what the step governor works around
//! (`src/nn/governor.rs`, `benches/README.md`).
//!
//!   cargo run --release --example cores -- [THREADS] [SECONDS]
//!
//! The last line counts the 200 ms windows in which every thread ran below
//! 60% of the fastest window seen by any thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
    for t in 0..threads {
        let counts = counts.clone();
        std::thread::spawn(move || {
            pin(t);
            work(&counts[t]);
        });
    }
    let start = Instant::now();
    let mut last = vec![0u64; threads];
    let mut windows: Vec<Vec<u64>> = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        std::thread::sleep(Duration::from_millis(200));
        let now: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let window: Vec<u64> = now.iter().zip(&last).map(|(n, l)| n - l).collect();
        println!(
            "{:6.1} s  {}",
            start.elapsed().as_secs_f64(),
            window.iter().map(|w| format!("{w:6}")).collect::<String>()
        );
        windows.push(window);
        last = now;
    }
    // The first window includes the threads' start: left out of the count.
    let best = windows.iter().skip(1).flatten().copied().max().unwrap_or(0);
    let slow = windows.iter().skip(1).filter(|w| w.iter().all(|&x| (x as f64) < 0.6 * best as f64)).count();
    println!(
        "{threads} thread(s): {slow} of {} windows with every thread below 60% of the fastest ({best})",
        windows.len().saturating_sub(1)
    );
}

/// Multiply-adds on values that stay in registers; counts blocks done.
fn work(count: &AtomicU64) {
    let mut acc = [[1.0f32; 16]; 8];
    let (m, c) = (std::hint::black_box(0.9999f32), std::hint::black_box(1e-4f32));
    loop {
        for _ in 0..20_000 {
            for lane in acc.iter_mut() {
                for v in lane.iter_mut() {
                    *v = *v * m + c;
                }
            }
        }
        std::hint::black_box(&acc);
        count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(target_os = "linux")]
fn pin(cpu: usize) {
    // SAFETY: a plain bit set passed with its own size; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) {}
