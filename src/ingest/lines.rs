//! Whole lines out of a growing text file: a line counts once its newline
//! has arrived; the rest waits for the next read.

/// Splits fed bytes into complete lines, numbered from 1.
#[derive(Debug, Default, Clone)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Number of the next complete line.
    next_line: usize,
}

impl LineBuffer {
    pub fn new() -> Self {
        LineBuffer { pending: Vec::new(), next_line: 1 }
    }

    /// Appends bytes; returns the lines they complete, without `\n` or
    /// `\r\n`, with their 1-based line numbers.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let line = &self.pending[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.push((self.next_line, line.to_vec()));
            self.next_line += 1;
            start = end + 1;
        }
        self.pending.drain(..start);
        out
    }

    /// The last line when it has no newline (the end of a finished file, or
    /// a line still being written), taken out of the buffer.
    pub fn take_partial(&mut self) -> Option<(usize, Vec<u8>)> {
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
}
