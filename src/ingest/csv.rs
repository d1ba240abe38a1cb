//! CSV with a header line, as Keras' CSVLogger (`epoch,accuracy,loss,
//! val_accuracy,val_loss`, one row per epoch) and Lightning's CSVLogger
//! (`metrics.csv`: `epoch`, `step` and one column per logged name, sparse
//! rows: training steps, validation and epoch values in different rows)
//! write it.
//!
//! The separator is the one of `,` `;` or tab that the header uses most.
//! Cells may be quoted (RFC 4180). An empty cell, `NA` (Keras' filler) or
//! anything that is not a number is a missing value. Columns `epoch`,
//! `step` (or `global_step`) and `wall_time` (or `timestamp`) give the row's
//! place; every other column is a tag for the mapping.

use std::path::Path;

use super::assemble::{Store, epoch_number, step_number};
use super::lines::LineBuffer;

/// The header of the file, kept to notice a rewrite: Lightning rewrites the
/// whole file with a wider header when a new metric appears.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub raw: Vec<u8>,
    sep: u8,
    names: Vec<String>,
    epoch: Option<usize>,
    step: Option<usize>,
    wall: Option<usize>,
}

/// Incremental reader of one CSV file.
#[derive(Debug, Default)]
pub struct CsvReader {
    lines: LineBuffer,
    header: Option<Header>,
}

impl CsvReader {
    pub fn new() -> Self {
        CsvReader { lines: LineBuffer::new(), header: None }
    }

    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Reads the complete lines among `bytes` into `store`.
    pub fn feed(&mut self, bytes: &[u8], file: &Path, store: &mut Store, source: u32, warnings: &mut Vec<String>) {
        for (n, line) in self.lines.feed(bytes) {
            self.line(n, &line, file, store, source, warnings);
        }
        self.lines.overlong_warnings(file, warnings);
    }

    /// The end of a finished file: a last line without newline is read too.
    pub fn finish(&mut self, file: &Path, store: &mut Store, source: u32, warnings: &mut Vec<String>) {
        if let Some((n, line)) = self.lines.take_partial() {
            self.line(n, &line, file, store, source, warnings);
        }
    }

    /// Drops a last line that has no newline (a stream cut off mid-line);
    /// returns its line number.
    pub fn discard_partial(&mut self) -> Option<usize> {
        self.lines.take_partial().map(|(n, _)| n)
    }

    fn line(&mut self, n: usize, line: &[u8], file: &Path, store: &mut Store, source: u32, warnings: &mut Vec<String>) {
        let text = String::from_utf8_lossy(line);
        let text = if n == 1 { text.trim_start_matches('\u{feff}') } else { &text };
        if text.trim().is_empty() {
            return;
        }
        let Some(h) = &self.header else {
            let h = parse_header(line, text);
            for (i, name) in h.names.iter().enumerate() {
                if Some(i) != h.epoch && Some(i) != h.step && Some(i) != h.wall {
                    store.intern(name);
                }
            }
            self.header = Some(h);
            return;
        };
        let cells = split_fields(text, h.sep);
        if cells.len() != h.names.len() {
            warnings.push(format!(
                "{}:{n}: {} fields where the header has {}; line skipped",
                file.display(),
                cells.len(),
                h.names.len()
            ));
            return;
        }
        let num = |i: Option<usize>| i.and_then(|i| number(&cells[i]));
        let epoch = num(h.epoch).and_then(epoch_number);
        let step = num(h.step).and_then(step_number);
        let row = store.row(source, step, epoch, num(h.wall));
        for (i, cell) in cells.iter().enumerate() {
            if Some(i) == h.epoch || Some(i) == h.step || Some(i) == h.wall {
                continue;
            }
            if let Some(v) = number(cell) {
                store.push(&row, &h.names[i], v as f32);
            }
        }
    }
}

fn parse_header(raw: &[u8], text: &str) -> Header {
    let sep = separator(text).unwrap_or(b',');
    let names: Vec<String> = split_fields(text, sep).into_iter().map(|s| s.trim().to_string()).collect();
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.iter().any(|w| n.eq_ignore_ascii_case(w)));
    Header {
        raw: raw.to_vec(),
        sep,
        epoch: find(&["epoch"]),
        step: find(&["step", "global_step"]),
        wall: find(&["wall_time", "walltime", "timestamp"]),
        names,
    }
}

/// The separator a header line uses most (outside quotes), if any.
pub fn separator(header: &str) -> Option<u8> {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in header.bytes() {
        match c {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let (i, &n) = counts.iter().enumerate().max_by_key(|&(i, &n)| (n, std::cmp::Reverse(i)))?;
    (n > 0).then_some([b',', b';', b'\t'][i])
}

/// Splits one CSV line into fields, undoing RFC 4180 quoting.
pub fn split_fields(line: &str, sep: u8) -> Vec<String> {
    let sep = char::from(sep);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// A cell as a number; empty, `NA` and text are missing values. `nan`,
/// `NaN`, `inf`, `-inf`, `Infinity` (any case, what Python, pandas and
/// Keras write for a diverged value) are numbers: a non-finite metric was
/// logged and must stay non-finite, not become "not logged".
fn number(cell: &str) -> Option<f64> {
    let t = cell.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("na") || t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("null")
    {
        return None;
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_separators_split() {
        assert_eq!(split_fields(r#"a,"b,c","d""e",,"#, b','), vec!["a", "b,c", "d\"e", "", ""]);
        assert_eq!(separator("epoch;loss;val_loss"), Some(b';'));
        assert_eq!(separator("a\tb,c\td"), Some(b'\t'));
        assert_eq!(separator("loss"), None);
    }

    #[test]
    fn non_finite_cells_are_values_not_gaps() {
        for (cell, nan, sign) in [
            ("nan", true, 0.0),
            ("NaN", true, 0.0),
            ("-nan", true, 0.0),
            ("inf", false, 1.0),
            ("-inf", false, -1.0),
            ("Infinity", false, 1.0),
            ("-Infinity", false, -1.0),
        ] {
            let v = number(cell).unwrap_or_else(|| panic!("{cell} is a value"));
            assert_eq!(v.is_nan(), nan, "{cell}");
            if !nan {
                assert_eq!(v, sign * f64::INFINITY, "{cell}");
            }
        }
        assert_eq!(number("NA"), None);
        assert_eq!(number(""), None);
        assert_eq!(number("n/a"), None);
    }

    #[test]
    fn sparse_rows_keep_their_own_values() {
        let mut store = Store::default();
        let mut w = Vec::new();
        let mut r = CsvReader::new();
        let text = "epoch,step,train_loss_step,val_loss\r\n0,4,2.5,\r\n0,9,,NA\r\n0,9,,1.25\r\n1,14,x\r\n";
        r.feed(text.as_bytes(), Path::new("m.csv"), &mut store, 0, &mut w);
        let pts: Vec<_> =
            store.points().iter().map(|p| (store.tags()[p.tag as usize].as_str(), p.value, p.step, p.epoch)).collect();
        assert_eq!(pts, vec![("train_loss_step", 2.5, Some(4), Some(0)), ("val_loss", 1.25, Some(9), Some(0))]);
        assert_eq!(w, vec!["m.csv:5: 3 fields where the header has 4; line skipped".to_string()]);
    }
}
