//! A fixed team of threads for the training step's fork-join, which spin
//! briefly between jobs instead of sleeping.
//!
//! Why not rayon here: a rayon worker that finds no work goes to sleep
//! within microseconds, and waking it costs 40-120 µs on this kind of
//! virtual machine (measured: a `join` of two 50 µs tasks took 94 µs after a
//! 20 µs gap and 169 µs after a 300 µs gap). A training step forks twice
//! every ~0.5 ms, so that latency ate most of the second core. The team's
//! helpers spin for [`SPIN`] after each job, then park on a condition
//! variable, so they are awake through a run of steps and asleep when the
//! trainer pauses or evaluates (evaluation uses rayon, never both at once).
//!
//! `run(f)` calls `f(0)` on the calling thread and `f(i)` on helper `i` for
//! every `i` in `1..size`, and returns when all are done.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle helper spins before parking.
pub const SPIN: Duration = Duration::from_micros(300);

/// The job being run: a borrowed closure, erased to a raw pointer for the
/// duration of one `run`.
type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    /// Bumped to post a new job.
    generation: AtomicUsize,
    /// Helpers that finished the current job.
    done: AtomicUsize,
    /// Set when a helper's part panicked.
    panicked: AtomicBool,
    stop: AtomicBool,
    job: Mutex<Option<SendJob>>,
    /// Parked helpers wait here for the generation to move.
    wake: Condvar,
    parked: AtomicUsize,
}

struct SendJob(Job);
// SAFETY: the pointer is only dereferenced while `Team::run` (which owns the
// borrow and requires `Sync`) waits for every helper to finish with it.
unsafe impl Send for SendJob {}

pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team of `size` threads: the caller and `size - 1` helpers.
    pub fn new(size: usize) -> Team {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            job: Mutex::new(None),
            wake: Condvar::new(),
            parked: AtomicUsize::new(0),
        });
        let helpers = (1..size.max(1))
            .map(|index| {
                let shared = shared.clone();
                thread::Builder::new()
                    .name(format!("trainer-helper-{index}"))
                    .spawn(move || helper(&shared, index))
                    .expect("spawn a training helper thread")
            })
            .collect();
        Team { shared, helpers }
    }

    /// Threads in the team, the caller included.
    pub fn size(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `f(i)` for every member `i` (0 on this thread) and waits for all.
    /// A panic in any part is re-raised here once every part has finished.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let helpers = self.helpers.len();
        if helpers == 0 {
            return f(0);
        }
        let s = &*self.shared;
        // SAFETY of the lifetime erasure: `run` does not return (or unwind)
        // before `done == helpers`, i.e. before every helper has stopped
        // using the pointer; the job slot is cleared before returning.
        let erased: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        {
            // Posting under the lock that parked helpers wait with: a helper
            // either sees the new generation before it parks, or is woken.
            let mut slot = s.job.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(SendJob(erased));
            s.done.store(0, Ordering::Relaxed);
            s.generation.fetch_add(1, Ordering::Release);
            if s.parked.load(Ordering::Relaxed) > 0 {
                s.wake.notify_all();
            }
        }
        let mine = panic::catch_unwind(AssertUnwindSafe(|| f(0)));
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < helpers {
            spins += 1;
            if spins < 1 << 14 { std::hint::spin_loop() } else { thread::yield_now() }
        }
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(payload) = mine {
            panic::resume_unwind(payload);
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            panic!("a training helper thread panicked");
        }
    }
}

fn helper(s: &Shared, index: usize) {
    let mut seen = 0usize;
    loop {
        // Spin for new work, then park.
        let start = Instant::now();
        while s.generation.load(Ordering::Acquire) == seen && !s.stop.load(Ordering::Acquire) {
            if start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let mut guard = s.job.lock().unwrap_or_else(|e| e.into_inner());
            s.parked.fetch_add(1, Ordering::Relaxed);
            while s.generation.load(Ordering::Acquire) == seen && !s.stop.load(Ordering::Acquire) {
                guard = s.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            s.parked.fetch_sub(1, Ordering::Relaxed);
            drop(guard);
        }
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        seen = s.generation.load(Ordering::Acquire);
        let job = s.job.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|j| j.0);
        if let Some(job) = job {
            // SAFETY: see `Team::run`: the closure outlives this call.
            let f = unsafe { &*job };
            if panic::catch_unwind(AssertUnwindSafe(|| f(index))).is_err() {
                s.panicked.store(true, Ordering::Release);
            }
        }
        s.done.fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _guard = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

/// A raw view of a mutable slice that team members split between them.
/// Each member must touch a part no other member touches.
#[derive(Clone, Copy)]
pub struct Parts<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `Parts` hands out disjoint sub-slices only (see `part`), and the
// borrow it came from outlives the `Team::run` that uses it.
unsafe impl<T: Send> Send for Parts<T> {}
unsafe impl<T: Send> Sync for Parts<T> {}

impl<T> Parts<T> {
    pub fn new(slice: &mut [T]) -> Parts<T> {
        Parts { ptr: slice.as_mut_ptr(), len: slice.len() }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th of `n` near-equal contiguous parts (empty if the slice is).
    ///
    /// # Safety
    /// No two live references may come from the same `(i, n)`, and the
    /// original slice must not be used while any is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn part(&self, i: usize, n: usize) -> &mut [T] {
        let (start, end) = split_range(self.len, i, n);
        // SAFETY: `start..end` lies within the slice, and parts of different
        // `i` do not overlap; the caller guarantees exclusivity per part.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }

    /// The `i`-th element, for members that own element `i` exclusively.
    ///
    /// # Safety
    /// As for [`Parts::part`]: one member per index.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self, i: usize) -> &mut T {
        assert!(i < self.len);
        // SAFETY: in bounds; exclusivity guaranteed by the caller.
        unsafe { &mut *self.ptr.add(i) }
    }
}

/// Bounds of the `i`-th of `n` near-equal parts of `0..len`.
pub fn split_range(len: usize, i: usize, n: usize) -> (usize, usize) {
    let n = n.max(1);
    (len * i / n, len * (i + 1) / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_runs_its_part_once_per_job() {
        let team = Team::new(3);
        let mut data = vec![0u32; 1000];
        for round in 1..=50 {
            let parts = Parts::new(&mut data);
            team.run(&|i| {
                // SAFETY: member i touches only part i.
                for x in unsafe { parts.part(i, 3) } {
                    *x += 1;
                }
            });
            assert!(data.iter().all(|&x| x == round));
        }
    }

    #[test]
    fn helpers_park_and_wake_again() {
        let team = Team::new(2);
        let hits = AtomicUsize::new(0);
        team.run(&|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        thread::sleep(SPIN * 10);
        team.run(&|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(hits.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_panicking_part_is_reported_to_the_caller() {
        let team = Team::new(2);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            team.run(&|i| {
                if i == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(outcome.is_err());
        // The team still works afterwards.
        let hits = AtomicUsize::new(0);
        team.run(&|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(hits.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn split_ranges_cover_everything_once() {
        for len in [0, 1, 7, 100] {
            let mut covered = 0;
            for i in 0..3 {
                let (a, b) = split_range(len, i, 3);
                assert_eq!(a, covered);
                covered = b;
            }
            assert_eq!(covered, len);
        }
    }
}
