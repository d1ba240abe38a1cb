//! Whether the training step runs on the whole team or on the caller alone,
//! decided step by step from the measured time per sample of each.
//!
//! Why: on this kind of virtual machine the host sometimes runs both of the
//! guest's CPUs on one physical core for seconds at a time. Both team
//! members then compute at half speed — every part, on both threads, takes
//! twice as long while the guest's scheduler sees no waiting at all — and a
//! two-thread step is slower than the same batch on one thread, because the
//! data-parallel split costs work of its own (each part reads the full
//! weights and writes a full weight gradient; measured when the parts were
//! first split: ~1.4x the time of one whole batch) and the team's
//! synchronisation on top.
//! Two pinned threads of register-only multiply-adds show the same halving
//! with no fitcheck code involved (`examples/cores.rs`, `benches/README.md`).
//! It cannot be prevented from inside the guest; it can be noticed and
//! avoided. The same holds when another process takes one of the cores.
//!
//! Since every batch is cut into the same parts whoever computes them (for
//! bit-identical runs, see `step`), a step alone runs both half batches one
//! after the other; since the backward pass multiplies by a contiguous
//! `Wᵀ`, that costs about what one whole batch did (mnist-mlp ~21,000
//! samples/s on one thread either way; 3–6.5% more on other nets).
//!
//! How: the governor keeps the last few per-sample step times of each mode.
//! It stays in the faster one, and now and then runs a short probe of the
//! other (four steps, the first discarded as the transition: a parked
//! helper's wake-up, or a helper still spinning): every [`CHECK_EVERY`]
//! steps on the team or [`CHECK_ALONE_EVERY`] alone, and as soon as the
//! current mode's recent median is [`SLOWDOWN`] times slower than when it
//! was last chosen. It switches when
//! the other mode is faster by [`MARGIN`]. Probing costs about 0.5% of a
//! normal run (four slower steps every 512).
//!
//! A switch changes only which thread computes which part of the batch,
//! never the parts (`step`): the same seed gives the same bits whatever the
//! governor decides, so it may follow the timing freely. `FITCHECK_GOVERNOR`
//! pins the mode for comparisons (`0` or `team`: always split across the
//! team, `alone`: always on the caller) or traces the decisions (`trace`).

/// How many recent per-sample times each mode keeps.
const RECENT: usize = 8;
/// Steps in a probe of the other mode (the first is not counted).
const PROBE_STEPS: usize = 4;
/// Steps on the team between two routine probes of one thread.
const CHECK_EVERY: usize = 512;
/// Steps alone between two probes of the team: sooner, to return to two
/// threads soon after the host separates the cores again. Doubled (up to
/// [`CHECK_EVERY`]) each time a return to the team proves short-lived: a
/// helper woken after parking runs ahead of a process sharing its core for a
/// few steps, so a probe can look better than the team will be.
const CHECK_ALONE_EVERY: usize = 64;
/// A stay on the team shorter than this counts as short-lived.
const SHORT_STAY: usize = 256;
/// At least this many steps between two probes, whatever the trigger.
const MIN_GAP: usize = 12;
/// The current mode's recent median against its median when chosen that
/// triggers an early probe.
const SLOWDOWN: f64 = 1.25;
/// How much faster the other mode must be to switch to it.
const MARGIN: f64 = 0.05;

/// The two ways to run a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Split across the team, one replica per member.
    Team,
    /// One replica of the whole batch, on the caller alone.
    Alone,
}

impl Mode {
    fn other(self) -> Mode {
        match self {
            Mode::Team => Mode::Alone,
            Mode::Alone => Mode::Team,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// The last [`RECENT`] measurements of one mode (fixed storage: the
/// governor runs inside the training step, which does not allocate).
#[derive(Clone, Copy, Debug, Default)]
struct Recent {
    times: [f64; RECENT],
    len: usize,
    next: usize,
}

impl Recent {
    fn push(&mut self, t: f64) {
        self.times[self.next] = t;
        self.next = (self.next + 1) % RECENT;
        self.len = (self.len + 1).min(RECENT);
    }
    fn median(&self) -> Option<f64> {
        median(&self.times[..self.len])
    }
    fn full(&self) -> bool {
        self.len == RECENT
    }
}

fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = [0.0f64; RECENT];
    let v = &mut v[..xs.len()];
    v.copy_from_slice(xs);
    v.sort_unstable_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// A probe of the other mode under way.
#[derive(Clone, Copy, Debug, Default)]
struct Probe {
    /// Steps run so far.
    done: usize,
    /// Their per-sample times, the first step's left out.
    times: Recent,
}

/// Chooses the mode of each step; see the module docs.
#[derive(Clone, Debug)]
pub struct Governor {
    adaptive: bool,
    /// Prints every decision to stderr (`FITCHECK_GOVERNOR=trace`).
    trace: bool,
    current: Mode,
    recent: [Recent; 2],
    /// The current mode's median when it was last chosen.
    chosen_at: Option<f64>,
    /// Steps since the last probe ended.
    since_probe: usize,
    /// Steps since the mode last changed.
    since_switch: usize,
    /// Steps alone between two probes of the team, as backed off.
    alone_every: usize,
    /// The probe under way, if any.
    probe: Option<Probe>,
}

impl Governor {
    /// A governor that adapts (`adaptive`), or else keeps every step on the team.
    pub fn new(adaptive: bool) -> Governor {
        Governor {
            adaptive,
            trace: false,
            current: Mode::Team,
            recent: [Recent::default(), Recent::default()],
            chosen_at: None,
            // The first probe comes early, once the team's ring is full.
            since_probe: CHECK_EVERY - RECENT,
            // The first switch has no stay on the team before it to judge.
            since_switch: SHORT_STAY,
            alone_every: CHECK_ALONE_EVERY,
            probe: None,
        }
    }

    /// Every step in `mode`, never measured.
    pub fn fixed(mode: Mode) -> Governor {
        Governor { current: mode, ..Governor::new(false) }
    }

    /// Adaptive by default. `FITCHECK_GOVERNOR=0` (or `team`) keeps every
    /// step on the team, `alone` every step on the caller (for comparing
    /// the two ways; the results are the same bits), and `trace` adapts
    /// and prints each decision to stderr.
    pub fn from_env() -> Governor {
        Governor::parse(std::env::var_os("FITCHECK_GOVERNOR").as_deref().and_then(|v| v.to_str()))
    }

    fn parse(var: Option<&str>) -> Governor {
        match var {
            Some("0" | "team") => Governor::fixed(Mode::Team),
            Some("alone") => Governor::fixed(Mode::Alone),
            Some("trace") => Governor { trace: true, ..Governor::new(true) },
            _ => Governor::new(true),
        }
    }

    /// A fresh governor with this one's policy (adaptive, traced, or fixed
    /// in its mode), without its measurements.
    pub fn policy(&self) -> Governor {
        if self.adaptive {
            Governor { trace: self.trace, ..Governor::new(true) }
        } else {
            Governor::fixed(self.current)
        }
    }

    /// The mode the next step should run in.
    pub fn mode(&self) -> Mode {
        match self.probe {
            Some(_) => self.current.other(),
            None => self.current,
        }
    }

    /// The mode steps run in outside probes.
    #[cfg(test)]
    fn current(&self) -> Mode {
        self.current
    }

    /// Records a step run in `mode` that took `secs_per_sample`.
    pub fn record(&mut self, mode: Mode, secs_per_sample: f64) {
        if !self.adaptive || !secs_per_sample.is_finite() {
            return;
        }
        if let Some(probe) = &mut self.probe {
            probe.done += 1;
            // The probe's first step carries the switch itself.
            if probe.done > 1 {
                probe.times.push(secs_per_sample);
            }
            if probe.done >= PROBE_STEPS {
                // The probe replaces what the other mode measured before.
                let times = probe.times;
                self.probe = None;
                self.since_probe = 0;
                self.recent[mode.index()] = times;
                if let Some(t) = times.median() {
                    self.decide(t);
                }
            }
            return;
        }
        self.recent[mode.index()].push(secs_per_sample);
        self.since_probe += 1;
        self.since_switch += 1;
        let now = self.recent[self.current.index()].median();
        if self.chosen_at.is_none() && self.recent[self.current.index()].full() {
            self.chosen_at = now;
        }
        let slowed = matches!((now, self.chosen_at), (Some(n), Some(c)) if n > c * SLOWDOWN);
        let every = if self.current == Mode::Team { CHECK_EVERY } else { self.alone_every };
        if self.since_probe >= every || (slowed && self.since_probe >= MIN_GAP) {
            self.probe = Some(Probe::default());
        }
    }

    /// After a probe of the other mode measured `probed`: switch if faster.
    fn decide(&mut self, probed: f64) {
        let Some(current) = self.recent[self.current.index()].median() else { return };
        let switch = probed < current * (1.0 - MARGIN);
        if self.trace {
            eprintln!(
                "governor: {:?} {:.2} µs/sample, probed {:?} {:.2}{}",
                self.current,
                current * 1e6,
                self.current.other(),
                probed * 1e6,
                if switch { " → switch" } else { "" }
            );
        }
        if switch {
            if self.current == Mode::Team {
                // Back to one thread: back off if the team did not last.
                self.alone_every = if self.since_switch < SHORT_STAY {
                    (self.alone_every * 2).min(CHECK_EVERY)
                } else {
                    CHECK_ALONE_EVERY
                };
            }
            self.since_switch = 0;
            self.current = self.current.other();
            self.chosen_at = Some(probed);
        } else {
            self.chosen_at = Some(current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` steps, each taking `time(mode, step)` per sample;
    /// returns the modes the steps ran in.
    fn drive(g: &mut Governor, steps: std::ops::Range<usize>, time: impl Fn(Mode, usize) -> f64) -> Vec<Mode> {
        steps
            .map(|i| {
                let m = g.mode();
                g.record(m, time(m, i));
                m
            })
            .collect()
    }

    fn share(modes: &[Mode], m: Mode) -> f64 {
        modes.iter().filter(|&&x| x == m).count() as f64 / modes.len() as f64
    }

    /// Two threads 1.5x faster (the normal case): the team keeps the steps,
    /// one-thread probes take under 2% of them.
    #[test]
    fn a_faster_team_keeps_the_steps() {
        let mut g = Governor::new(true);
        let modes = drive(&mut g, 0..5000, |m, _| if m == Mode::Team { 1.0 } else { 1.5 });
        assert_eq!(g.current(), Mode::Team);
        let alone = share(&modes, Mode::Alone);
        assert!(alone > 0.0 && alone < 0.02, "{alone}");
    }

    /// The host packs both cores onto one (the team at half speed, slower
    /// than one thread) and later separates them: the governor goes to one
    /// thread within a few dozen steps, and back soon after.
    #[test]
    fn a_slowed_team_hands_over_to_one_thread_and_back() {
        let mut g = Governor::new(true);
        let packed = 1000..2000;
        let time = |m: Mode, i: usize| match m {
            Mode::Team if packed.contains(&i) => 2.0,
            Mode::Team => 1.0,
            Mode::Alone => 1.5,
        };
        let modes = drive(&mut g, 0..3000, time);
        // The first of ten steps in a row on one thread (longer than a probe).
        let first_alone =
            (1000..2000).find(|&i| modes[i..i + 10].iter().all(|&m| m == Mode::Alone)).expect("never went alone");
        assert!(first_alone < 1000 + 2 * MIN_GAP + PROBE_STEPS, "alone only from step {first_alone}");
        assert!(share(&modes[1100..2000], Mode::Alone) > 0.9, "{}", share(&modes[1100..2000], Mode::Alone));
        assert!(share(&modes[2200..3000], Mode::Team) > 0.95, "{}", share(&modes[2200..3000], Mode::Team));
        assert_eq!(g.current(), Mode::Team);
    }

    /// One slow step (a page fault, a preempted thread) and a slow first
    /// probe step (a parked helper's wake-up) do not move the governor.
    #[test]
    fn outliers_do_not_switch() {
        let mut g = Governor::new(true);
        let modes = drive(&mut g, 0..3000, |m, i| match m {
            Mode::Team if i % 97 == 0 => 50.0,
            Mode::Team => 1.0,
            Mode::Alone if i % 4 == 0 => 100.0,
            Mode::Alone => 1.5,
        });
        assert_eq!(g.current(), Mode::Team);
        assert!(share(&modes, Mode::Team) > 0.97);
    }

    /// Another process shares the helper's core: a helper woken from
    /// parking runs at full speed for a few steps, then at half. The probes
    /// of the team look good each time; the governor backs off, and most
    /// steps stay on one thread.
    #[test]
    fn a_team_that_only_looks_fast_after_waking_is_probed_less_and_less() {
        let mut g = Governor::new(true);
        let mut team_run = 0usize;
        let mut modes = Vec::new();
        for _ in 0..6000 {
            let m = g.mode();
            team_run = if m == Mode::Team { team_run + 1 } else { 0 };
            let t = match m {
                Mode::Team if team_run <= 6 => 1.0,
                Mode::Team => 3.0,
                Mode::Alone => 1.5,
            };
            g.record(m, t);
            modes.push(m);
        }
        assert_eq!(g.current(), Mode::Alone);
        assert_eq!(g.alone_every, CHECK_EVERY, "backed off");
        let team = share(&modes[3000..], Mode::Team);
        assert!(team < 0.08, "{team}");
    }

    /// Both modes slow down together (another process on the machine): no
    /// flapping, the team keeps the steps.
    #[test]
    fn a_machine_wide_slowdown_does_not_flap() {
        let mut g = Governor::new(true);
        let modes =
            drive(&mut g, 0..4000, |m, i| if m == Mode::Team { 1.0 } else { 1.5 } * if i >= 2000 { 2.0 } else { 1.0 });
        assert_eq!(g.current(), Mode::Team);
        assert!(share(&modes[2000..], Mode::Alone) < 0.03, "{}", share(&modes[2000..], Mode::Alone));
    }

    #[test]
    fn a_fixed_governor_keeps_its_mode() {
        for mode in [Mode::Team, Mode::Alone] {
            let mut g = Governor::fixed(mode);
            let modes = drive(&mut g, 0..1000, |m, _| if m == mode { 9.0 } else { 1.0 });
            assert!(modes.iter().all(|&m| m == mode));
            assert_eq!(g.policy().mode(), mode, "a rebuilt runner keeps the pin");
        }
    }

    /// `FITCHECK_GOVERNOR`: unset or anything else adapts; `0`/`team` and
    /// `alone` pin; `trace` adapts and says so, and keeps saying so after a
    /// rebuild.
    #[test]
    fn the_environment_variable_picks_the_policy() {
        for (var, adaptive, mode) in [
            (None, true, Mode::Team),
            (Some("1"), true, Mode::Team),
            (Some("0"), false, Mode::Team),
            (Some("team"), false, Mode::Team),
            (Some("alone"), false, Mode::Alone),
            (Some("trace"), true, Mode::Team),
        ] {
            let g = Governor::parse(var);
            assert_eq!((g.adaptive, g.mode()), (adaptive, mode), "{var:?}");
            assert_eq!(g.policy().trace, var == Some("trace"), "{var:?}");
        }
    }
}
