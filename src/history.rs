//! Bounded metric history. A [`Series`] keeps at most `cap` points of a
//! curve however long the run: when full, neighbouring points are averaged
//! pairwise and later input is averaged in twice as large groups, so the
//! whole run stays on the chart at a resolution that halves as it grows,
//! and memory stays flat over millions of steps.

/// A downsampled `(x, y)` curve of at most `cap` points.
#[derive(Clone, Debug)]
pub struct Series {
    points: Vec<(f64, f64)>,
    cap: usize,
    /// Input points averaged into one stored point.
    stride: usize,
    pending: (f64, f64, usize),
}

impl Series {
    pub fn new(cap: usize) -> Series {
        let cap = cap.max(2) & !1; // even, so pairs merge cleanly
        Series { points: Vec::with_capacity(cap), cap, stride: 1, pending: (0.0, 0.0, 0) }
    }

    /// Appends a point; non-finite values are skipped (never drawn as garbage).
    pub fn push(&mut self, x: f64, y: f64) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let (sx, sy, n) = &mut self.pending;
        *sx += x;
        *sy += y;
        *n += 1;
        if *n < self.stride {
            return;
        }
        let point = (*sx / *n as f64, *sy / *n as f64);
        self.pending = (0.0, 0.0, 0);
        if self.points.len() == self.cap {
            let merged: Vec<(f64, f64)> =
                self.points.chunks(2).map(|p| ((p[0].0 + p[1].0) / 2.0, (p[0].1 + p[1].1) / 2.0)).collect();
            self.points = merged;
            self.stride *= 2;
        }
        self.points.push(point);
    }

    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    pub fn last(&self) -> Option<(f64, f64)> {
        self.points.last().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Smallest and largest y.
    pub fn y_range(&self) -> Option<(f64, f64)> {
        self.points.iter().fold(None, |acc, &(_, y)| match acc {
            None => Some((y, y)),
            Some((lo, hi)) => Some((lo.min(y), hi.max(y))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_bounded_over_a_million_points() {
        let mut s = Series::new(500);
        for i in 0..1_000_000 {
            s.push(i as f64, (i % 10) as f64);
        }
        assert!(s.points().len() <= 500);
        assert!(s.points().len() >= 250);
        // The curve still spans the whole run, in order.
        let (first, last) = (s.points()[0].0, s.last().unwrap().0);
        assert!(first < 5_000.0 && last > 990_000.0, "{first} {last}");
        assert!(s.points().windows(2).all(|w| w[0].0 < w[1].0));
        // Averaging keeps the mean of a periodic signal.
        let mean = s.points().iter().map(|p| p.1).sum::<f64>() / s.points().len() as f64;
        assert!((mean - 4.5).abs() < 0.1, "{mean}");
    }

    #[test]
    fn non_finite_points_are_skipped() {
        let mut s = Series::new(10);
        s.push(0.0, f64::NAN);
        s.push(1.0, f64::INFINITY);
        s.push(2.0, 1.0);
        assert_eq!(s.points(), &[(2.0, 1.0)]);
        assert_eq!(s.y_range(), Some((1.0, 1.0)));
    }
}
