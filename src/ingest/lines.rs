//! Whole lines out of a growing text file: a line counts once its newline
//! has arrived; the rest waits for the next read. A line longer than
//! [`MAX_LINE`] is not kept: its bytes are dropped as they come and its
//! number is reported ([`LineBuffer::overlong_warnings`]), so a file of one
//! endless line (or a binary file taken for text) cannot fill memory.

use super::bounded::MAX_LINE;

/// Splits fed bytes into complete lines, numbered from 1.
#[derive(Debug, Default, Clone)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Number of the next complete line.
    next_line: usize,
    /// The current line is over [`MAX_LINE`]: its bytes are dropped until
    /// its newline.
    skipping: bool,
    /// Numbers of the lines dropped for their length, not yet reported.
    overlong: Vec<usize>,
}

impl LineBuffer {
    pub fn new() -> Self {
        LineBuffer { pending: Vec::new(), next_line: 1, skipping: false, overlong: Vec::new() }
    }

    /// Appends bytes; returns the lines they complete, without `\n` or
    /// `\r\n`, with their 1-based line numbers (lines over [`MAX_LINE`]
    /// left out).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let mut bytes = bytes;
        if self.skipping {
            let Some(nl) = bytes.iter().position(|&b| b == b'\n') else { return out };
            self.skipping = false;
            self.next_line += 1;
            bytes = &bytes[nl + 1..];
        }
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let line = &self.pending[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > MAX_LINE {
                self.overlong.push(self.next_line);
            } else {
                out.push((self.next_line, line.to_vec()));
            }
            self.next_line += 1;
            start = end + 1;
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_LINE {
            self.overlong.push(self.next_line);
            self.pending = Vec::new();
            self.skipping = true;
        }
        out
    }

    /// The last line when it has no newline (the end of a finished file, or
    /// a line still being written), taken out of the buffer.
    pub fn take_partial(&mut self) -> Option<(usize, Vec<u8>)> {
        if self.skipping {
            // Already reported as too long.
            self.skipping = false;
            self.next_line += 1;
            return None;
        }
        if self.pending.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.pending);
        let n = self.next_line;
        self.next_line += 1;
        Some((n, line))
    }

    /// Bytes of an incomplete last line.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Numbers of the lines dropped for their length since the last call.
    pub fn take_overlong(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.overlong)
    }

    /// One warning per line dropped for its length since the last call,
    /// naming `file` and the line.
    pub fn overlong_warnings(&mut self, file: &std::path::Path, warnings: &mut Vec<String>) {
        for n in self.take_overlong() {
            warnings.push(format!(
                "{}:{n}: a line longer than {}; skipped (not a log line)",
                file.display(),
                super::bounded::human(MAX_LINE as u64)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_complete_only_with_their_newline() {
        let mut b = LineBuffer::new();
        assert_eq!(b.feed(b"a,b\r\n1,"), vec![(1, b"a,b".to_vec())]);
        assert_eq!(b.pending_len(), 2);
        assert_eq!(b.feed(b"2\n\n3"), vec![(2, b"1,2".to_vec()), (3, Vec::new())]);
        assert_eq!(b.take_partial(), Some((4, b"3".to_vec())));
        assert_eq!(b.take_partial(), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Lines of any length around the limit, fed in any pieces: the
        /// short ones come out whole with their numbers, the long ones are
        /// reported by number, and the buffer never holds a long line.
        #[test]
        fn any_split_keeps_short_lines_and_reports_long_ones(
            lens in proptest::collection::vec(proptest::sample::select(vec![0usize, 3, MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 2 * MAX_LINE]), 1..8),
            piece in 1usize..(3 * MAX_LINE),
        ) {
            let mut bytes = Vec::new();
            for (i, &n) in lens.iter().enumerate() {
                bytes.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, n));
                bytes.push(b'\n');
            }
            let mut b = LineBuffer::new();
            let mut got = Vec::new();
            for chunk in bytes.chunks(piece) {
                got.extend(b.feed(chunk));
                proptest::prop_assert!(b.pending_len() <= MAX_LINE);
            }
            let long: Vec<usize> = (0..lens.len()).filter(|&i| lens[i] > MAX_LINE).map(|i| i + 1).collect();
            let short: Vec<(usize, usize)> = (0..lens.len()).filter(|&i| lens[i] <= MAX_LINE).map(|i| (i + 1, lens[i])).collect();
            proptest::prop_assert_eq!(b.take_overlong(), long);
            proptest::prop_assert_eq!(got.iter().map(|(n, l)| (*n, l.len())).collect::<Vec<_>>(), short);
        }
    }

    #[test]
    fn a_line_over_the_limit_is_dropped_as_it_comes_and_reported_by_number() {
        let mut b = LineBuffer::new();
        assert_eq!(b.feed(b"a\n"), vec![(1, b"a".to_vec())]);
        // An endless line, fed in pieces: never held whole.
        let piece = vec![b'x'; MAX_LINE / 2 + 1];
        for _ in 0..5 {
            assert!(b.feed(&piece).is_empty());
            assert!(b.pending_len() <= MAX_LINE, "{}", b.pending_len());
        }
        assert_eq!(b.feed(b"yyy\nb\n"), vec![(3, b"b".to_vec())]);
        // A long line complete in one read is dropped too.
        let mut long = vec![b'z'; MAX_LINE + 1];
        long.extend_from_slice(b"\nc\n");
        assert_eq!(b.feed(&long), vec![(5, b"c".to_vec())]);
        let mut w = Vec::new();
        b.overlong_warnings(std::path::Path::new("log.csv"), &mut w);
        assert_eq!(
            w,
            [
                "log.csv:2: a line longer than 1 MB; skipped (not a log line)",
                "log.csv:4: a line longer than 1 MB; skipped (not a log line)"
            ]
        );
        // Cut at the end of a file while too long: nothing partial to read.
        b.feed(&vec![b'q'; MAX_LINE + 1]);
        assert_eq!(b.take_partial(), None);
    }
}
