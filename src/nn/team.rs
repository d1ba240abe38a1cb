//! A fixed team of threads for the training step's fork-join, which spin
//! briefly between jobs instead of sleeping, and are pinned one per core.
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
//! `run(f)` calls `f(i)` once for every `i` in `0..size` and returns when all
//! are done. The parts are claimed, not assigned: the caller and the helpers
//! take the next unclaimed index until none is left. A helper the kernel has
//! not scheduled yet (woken late, or its core busy with another process)
//! then costs nothing: the caller runs its part too, so a step is never
//! slower than on one thread by more than the claim itself. The results
//! must not depend on who ran which part: the training step gives every
//! part buffers of its own and combines them in part order (`step`).
//!
//! Placement: unpinned, the kernel woke a parked helper on the caller's core
//! (wake-affine) and left both there for whole epochs, a third slower than
//! one thread (measured: 62–91% of forks ran with both on one CPU; see
//! `benches/README.md`). So the caller and helper `i` are pinned to the
//! `i`-th CPU the process may use, when there are at least as many CPUs as
//! members. `FITCHECK_NO_PIN=1` turns pinning off (for comparisons).
//!
//! What pinning cannot fix: the host sometimes runs both of the guest's CPUs
//! on one physical core, and both members then compute at half speed. The
//! step's governor (`governor`) notices and runs steps on the caller alone
//! until the team is faster again.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle helper spins before parking.
pub const SPIN: Duration = Duration::from_micros(300);

/// The job being run: a borrowed closure, erased to a raw pointer for the
/// duration of one `run`.
type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    /// The job's generation (high 32 bits) and its next unclaimed part (low
    /// 32 bits), in one word so a claim names the job it belongs to.
    claim: AtomicU64,
    /// Bumped to post a new job (the same generation as in `claim`).
    generation: AtomicUsize,
    /// Parts of the current job finished (by anyone).
    done: AtomicUsize,
    /// Set when a helper's part panicked.
    panicked: AtomicBool,
    stop: AtomicBool,
    /// The current job and its generation.
    job: Mutex<Option<(usize, SendJob)>>,
    /// Parked helpers wait here for the generation to move.
    wake: Condvar,
    parked: AtomicUsize,
    size: usize,
    /// Each helper's kernel thread id (0 until it has started), to read how
    /// long it waited for its CPU.
    tids: Vec<std::sync::atomic::AtomicI32>,
}

struct SendJob(Job);
// SAFETY: the pointer is only dereferenced while `Team::run` (which owns the
// borrow and requires `Sync`) waits for every part to finish.
unsafe impl Send for SendJob {}

impl Shared {
    /// Claims the next part of job `generation`, if that job still has one.
    fn claim(&self, generation: usize) -> Option<usize> {
        let mut cur = self.claim.load(Ordering::Acquire);
        loop {
            let (g, next) = ((cur >> 32) as u32, (cur & 0xFFFF_FFFF) as usize);
            if g != generation as u32 || next >= self.size {
                return None;
            }
            match self.claim.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(now) => cur = now,
            }
        }
    }
}

thread_local! {
    /// The CPU this thread was pinned to by a team, if any.
    static PINNED: Cell<Option<usize>> = const { Cell::new(None) };
}

pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    /// CPU per member, when the team pins its threads.
    cpus: Option<Vec<usize>>,
    /// Each member's run-queue wait (ns) when last read, caller first.
    waited: Mutex<Vec<u64>>,
}

impl Team {
    /// A team of `size` threads: the caller and `size - 1` helpers named
    /// `trainer-team-<i>`.
    pub fn new(size: usize) -> Team {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            generation: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            job: Mutex::new(None),
            wake: Condvar::new(),
            parked: AtomicUsize::new(0),
            size,
            tids: (1..size).map(|_| std::sync::atomic::AtomicI32::new(0)).collect(),
        });
        let pin = std::env::var_os("FITCHECK_NO_PIN").is_none_or(|v| v.is_empty() || v == "0");
        let cpus = (size > 1 && pin).then(affinity::allowed_cpus).flatten().filter(|c| c.len() >= size);
        let helpers = (1..size)
            .map(|index| {
                let shared = shared.clone();
                let cpu = cpus.as_ref().map(|c| c[index]);
                thread::Builder::new()
                    .name(format!("trainer-team-{index}"))
                    .spawn(move || {
                        shared.tids[index - 1].store(affinity::tid(), Ordering::Relaxed);
                        if let Some(cpu) = cpu {
                            // Best effort: an error leaves the thread where the kernel puts it.
                            let _ = affinity::pin_current(cpu);
                        }
                        helper(&shared)
                    })
                    .expect("spawn a training helper thread")
            })
            .collect();
        Team { shared, helpers, cpus, waited: Mutex::new(Vec::new()) }
    }

    /// Threads in the team, the caller included.
    pub fn size(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Moves the calling thread, for work it does alone, to the core of the
    /// member that waited least for its CPU since the last call (another
    /// process may share the caller's own core while the helper's is free).
    /// The next [`Team::run`] pins it back to its own. It reads `/proc`
    /// (tens of µs, with a few small allocations), so it is called when a
    /// step turns to one thread, not at every step.
    pub fn caller_alone(&self) {
        let Some(cpus) = &self.cpus else { return };
        let now: Vec<u64> = std::iter::once(affinity::run_delay(0))
            .chain(self.shared.tids.iter().map(|t| affinity::run_delay(t.load(Ordering::Relaxed))))
            .collect();
        let mut waited = self.waited.lock().unwrap_or_else(|e| e.into_inner());
        let quietest = if waited.len() == now.len() {
            (0..now.len()).min_by_key(|&i| now[i].saturating_sub(waited[i])).unwrap_or(0)
        } else {
            0
        };
        *waited = now;
        if PINNED.with(Cell::get) != Some(cpus[quietest]) {
            let _ = affinity::pin_current(cpus[quietest]);
            PINNED.with(|p| p.set(Some(cpus[quietest])));
        }
    }

    /// Runs `f(i)` for every member index `i` (each exactly once, on
    /// whichever thread claims it) and waits for all. A panic in any part is
    /// re-raised here once every part has finished.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let s = &*self.shared;
        if s.size == 1 {
            return f(0);
        }
        if let Some(cpus) = &self.cpus
            && PINNED.with(Cell::get) != Some(cpus[0])
        {
            // The caller may differ from the thread that built the team (the
            // trainer is built, then moved to its thread): pin it on first use.
            let _ = affinity::pin_current(cpus[0]);
            PINNED.with(|p| p.set(Some(cpus[0])));
        }
        // SAFETY of the lifetime erasure: `run` does not return (or unwind)
        // before `done == size`, i.e. before every part has run, and a part
        // can only be claimed while the job's generation is current and
        // unfinished; the job slot is cleared before returning.
        let erased: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        let generation = {
            // Posting under the lock that parked helpers wait with: a helper
            // either sees the new generation before it parks, or is woken.
            let mut slot = s.job.lock().unwrap_or_else(|e| e.into_inner());
            let generation = s.generation.load(Ordering::Relaxed).wrapping_add(1);
            *slot = Some((generation, SendJob(erased)));
            s.done.store(0, Ordering::Relaxed);
            s.claim.store((generation as u32 as u64) << 32, Ordering::Release);
            s.generation.store(generation, Ordering::Release);
            if s.parked.load(Ordering::Relaxed) > 0 {
                s.wake.notify_all();
            }
            generation
        };
        let mut mine = Ok(());
        while let Some(i) = s.claim(generation) {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(i)));
            if mine.is_ok() {
                mine = outcome;
            }
            s.done.fetch_add(1, Ordering::AcqRel);
        }
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < s.size {
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

fn helper(s: &Shared) {
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
        // The slot may hold a later job than `seen` (or none, if the caller
        // finished every part already): either way claims name its generation.
        let job = s.job.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(g, j)| (*g, j.0));
        if let Some((generation, job)) = job {
            seen = generation;
            while let Some(i) = s.claim(generation) {
                // SAFETY: see `Team::run`: a claimed part keeps the job alive
                // until it is counted done.
                let f = unsafe { &*job };
                if panic::catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
                    s.panicked.store(true, Ordering::Release);
                }
                s.done.fetch_add(1, Ordering::AcqRel);
            }
        }
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

/// CPU affinity through `sched_{get,set}affinity` (Linux); elsewhere the
/// team does not pin.
mod affinity {
    /// The CPUs this process may run on, in order.
    #[cfg(target_os = "linux")]
    pub fn allowed_cpus() -> Option<Vec<usize>> {
        // SAFETY: `set` is a plain bit set the call fills in; size passed is its own.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return None;
            }
            Some((0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect())
        }
    }

    /// Restricts the calling thread to `cpu`.
    pub fn pin_current(cpu: usize) -> std::io::Result<()> {
        allow_current(&[cpu])
    }

    /// The calling thread's kernel id.
    #[cfg(target_os = "linux")]
    pub fn tid() -> i32 {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// How long thread `tid` (0: the calling thread) has waited on a run
    /// queue, in ns (`/proc/.../schedstat`); 0 if unknown.
    #[cfg(target_os = "linux")]
    pub fn run_delay(tid: i32) -> u64 {
        let path = if tid == 0 {
            "/proc/thread-self/schedstat".to_string()
        } else {
            format!("/proc/self/task/{tid}/schedstat")
        };
        std::fs::read_to_string(path).ok().and_then(|s| s.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn tid() -> i32 {
        0
    }

    #[cfg(not(target_os = "linux"))]
    pub fn run_delay(_tid: i32) -> u64 {
        0
    }

    /// Lets the calling thread run on any of `cpus`.
    #[cfg(target_os = "linux")]
    pub fn allow_current(cpus: &[usize]) -> std::io::Result<()> {
        // SAFETY: as above; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in cpus {
                libc::CPU_SET(cpu, &mut set);
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn allowed_cpus() -> Option<Vec<usize>> {
        None
    }

    #[cfg(not(target_os = "linux"))]
    pub fn allow_current(_cpus: &[usize]) -> std::io::Result<()> {
        Ok(())
    }
}

/// A raw view of a mutable slice that team members split between them.
/// Each member must touch a part no other member touches.
///
/// It carries no lifetime on purpose: the step keeps a table of these in a
/// buffer it reuses from step to step (no allocation in the training step),
/// which a borrowed view could not live in. The table is rebuilt from fresh
/// borrows at every step and cleared before the step returns.
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
        assert!(i < n, "part {i} of {n}");
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

    /// Parts run off the caller's thread run on the team's named helpers
    /// (the panic hook recognises the `trainer` prefix), and each part once.
    #[test]
    fn helpers_are_named_and_parts_run_once() {
        let team = Team::new(2);
        let caller = thread::current().id();
        let names = Mutex::new(Vec::new());
        let runs = [AtomicUsize::new(0), AtomicUsize::new(0)];
        for _ in 0..200 {
            team.run(&|i| {
                runs[i].fetch_add(1, Ordering::Relaxed);
                // Long enough that the helper usually claims a part.
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(50) {
                    std::hint::spin_loop();
                }
                if thread::current().id() != caller {
                    names.lock().unwrap().push(thread::current().name().map(str::to_string));
                }
            });
        }
        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 200));
        let names = names.into_inner().unwrap();
        assert!(!names.is_empty(), "the helper never claimed a part");
        for name in &names {
            assert_eq!(name.as_deref(), Some("trainer-team-1"));
        }
    }

    /// With as many CPUs as members, the caller ends up on the first one
    /// alone; alone, it moves to the core of the member that waited least for
    /// its CPU, and the next job pins it back to its own.
    #[test]
    fn the_caller_is_pinned_and_moves_to_the_quietest_core_alone() {
        let Some(cpus) = affinity::allowed_cpus() else { return };
        if cpus.len() < 2 || std::env::var_os("FITCHECK_NO_PIN").is_some() {
            return;
        }
        // On a fresh thread: pinning is per thread and must not leak into other tests.
        thread::spawn(move || {
            let team = Team::new(2);
            team.run(&|_| {});
            assert_eq!(affinity::allowed_cpus(), Some(vec![cpus[0]]));
            team.caller_alone();
            let alone = affinity::allowed_cpus().unwrap();
            assert!(alone.len() == 1 && cpus[..2].contains(&alone[0]), "{alone:?}");
            team.run(&|_| {});
            assert_eq!(affinity::allowed_cpus(), Some(vec![cpus[0]]));
        })
        .join()
        .unwrap();
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
