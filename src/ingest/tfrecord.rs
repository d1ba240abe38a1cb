//! TFRecord framing, the container of TensorBoard event files, read
//! incrementally.
//!
//! Each record is `u64 length (LE) | u32 masked CRC32C of those 8 bytes |
//! length bytes of data | u32 masked CRC32C of the data`, where
//! `masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping).
//!
//! Bytes are fed as they are read from a growing file. A record whose bytes
//! have not all arrived is kept for later (a writer mid-write is normal). A
//! record whose data CRC fails is reported and skipped: its length was
//! checked, so the next record starts where it says. A length whose CRC
//! fails cannot be trusted to find the next record, so reading that file
//! stops there (no resynchronisation).

/// Added to the rotated CRC (TensorFlow's `kMaskDelta`).
const MASK_DELTA: u32 = 0xa282_ead8;
/// The length field and its CRC.
const HEADER: usize = 12;
/// The longest record read: an event holds a few scalars or a histogram
/// (bytes to kilobytes; an image summary a few megabytes). A longer length
/// that passes its CRC is damage or a hostile file, not a record to wait
/// for: buffering it would hold the file's bytes in memory forever.
pub const MAX_RECORD: u64 = 256 << 20;
/// The data CRC after the data.
const FOOTER: usize = 4;

/// The masked CRC32C (Castagnoli) that TFRecord stores.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data).rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Frames `data` as one TFRecord (used by tests and by writers of fixtures).
pub fn frame_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + HEADER + FOOTER);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// What the framing found, each at the byte offset where its record starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Record {
        offset: u64,
        data: Vec<u8>,
    },
    /// The data did not match its CRC: the record was skipped.
    BadDataCrc {
        offset: u64,
    },
    /// The length did not match its CRC: nothing after `offset` is read.
    BadLengthCrc {
        offset: u64,
    },
    /// The length passed its CRC but is over `MAX_RECORD`: nothing after
    /// `offset` is read.
    TooLong {
        offset: u64,
        len: u64,
    },
}

/// Incremental reader of the framing of one file.
#[derive(Debug, Default)]
pub struct RecordReader {
    /// Bytes fed but not yet consumed: at most one incomplete record.
    pending: Vec<u8>,
    /// File offset of `pending[0]`.
    base: u64,
    /// Set after a bad length CRC: everything after is ignored.
    stopped: bool,
}

impl RecordReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next bytes of the file and returns every record they
    /// complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        if self.stopped {
            return Vec::new();
        }
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut at = 0usize;
        loop {
            let rest = &self.pending[at..];
            if rest.len() < HEADER {
                break;
            }
            let offset = self.base + at as u64;
            let (len_bytes, tail) = rest.split_at(8);
            let len_crc = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
            if masked_crc32c(len_bytes) != len_crc {
                frames.push(Frame::BadLengthCrc { offset });
                self.stopped = true;
                self.pending = Vec::new();
                return frames;
            }
            let mut len8 = [0u8; 8];
            len8.copy_from_slice(len_bytes);
            let len = u64::from_le_bytes(len8);
            if len > MAX_RECORD {
                frames.push(Frame::TooLong { offset, len });
                self.stopped = true;
                self.pending = Vec::new();
                return frames;
            }
            // A length beyond what is buffered means the record is still
            // being written (or the file is cut short): wait. (Bounded by
            // MAX_RECORD, so the sum cannot overflow.)
            let needed = (HEADER + FOOTER) as u64 + len;
            if needed > rest.len() as u64 {
                break;
            }
            let len = len as usize;
            let data = &rest[HEADER..HEADER + len];
            let c = &rest[HEADER + len..HEADER + len + FOOTER];
            let data_crc = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if masked_crc32c(data) == data_crc {
                frames.push(Frame::Record { offset, data: data.to_vec() });
            } else {
                frames.push(Frame::BadDataCrc { offset });
            }
            at += HEADER + len + FOOTER;
        }
        self.pending.drain(..at);
        self.base += at as u64;
        frames
    }

    /// Bytes of an incomplete record waiting for the rest.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// File offset where the incomplete record (if any) starts.
    pub fn pending_offset(&self) -> u64 {
        self.base
    }

    /// True after a bad length CRC: the rest of the file is ignored.
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn a_record_split_across_feeds_appears_once_complete() {
        let rec = frame_record(b"hello event");
        let mut r = RecordReader::new();
        for (i, b) in rec.iter().enumerate() {
            let frames = r.feed(std::slice::from_ref(b));
            if i + 1 < rec.len() {
                assert!(frames.is_empty(), "byte {i}");
            } else {
                assert_eq!(frames, vec![Frame::Record { offset: 0, data: b"hello event".to_vec() }]);
            }
        }
        assert_eq!(r.pending_len(), 0);
    }

    #[test]
    fn a_bad_data_crc_skips_one_record_and_keeps_the_next() {
        let mut bytes = frame_record(b"first");
        let second_at = bytes.len() as u64;
        bytes.extend(frame_record(b"second"));
        let third_at = bytes.len() as u64;
        bytes.extend(frame_record(b"third"));
        bytes[second_at as usize + 12] ^= 0x01;
        let frames = RecordReader::new().feed(&bytes);
        assert_eq!(
            frames,
            vec![
                Frame::Record { offset: 0, data: b"first".to_vec() },
                Frame::BadDataCrc { offset: second_at },
                Frame::Record { offset: third_at, data: b"third".to_vec() },
            ]
        );
    }

    #[test]
    fn a_length_near_the_integer_limit_with_a_valid_crc_stops_the_file() {
        for len in [u64::MAX, u64::MAX - 15, 1 << 63, MAX_RECORD + 1] {
            let mut bytes = frame_record(b"first");
            let at = bytes.len() as u64;
            let l = len.to_le_bytes();
            bytes.extend_from_slice(&l);
            bytes.extend_from_slice(&masked_crc32c(&l).to_le_bytes());
            bytes.extend_from_slice(&[0; 64]);
            let mut r = RecordReader::new();
            let frames = r.feed(&bytes);
            assert!(matches!(frames[0], Frame::Record { .. }));
            assert_eq!(frames[1], Frame::TooLong { offset: at, len }, "{len}");
            assert!(r.feed(&frame_record(b"later")).is_empty(), "nothing after it is read");
            assert_eq!(r.pending_len(), 0, "nothing held");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Issue 22: lengths near the integer limits (and the record limit),
        /// with a valid length CRC, fed in any split: no panic, no overflow,
        /// never more held than the record limit allows; over the limit the
        /// file stops with `TooLong` at that record's offset.
        #[test]
        fn lengths_near_the_integer_limits_never_overflow_or_hold_much(
            base in proptest::sample::select(vec![u64::MAX, 1 << 63, u32::MAX as u64 + 1, MAX_RECORD, MAX_RECORD + 1]),
            delta in 0u64..64,
            down in proptest::bool::ANY,
            split in 0usize..200,
        ) {
            let len = if down { base.saturating_sub(delta) } else { base.saturating_add(delta) };
            let mut bytes = frame_record(b"first");
            let at = bytes.len() as u64;
            let l = len.to_le_bytes();
            bytes.extend_from_slice(&l);
            bytes.extend_from_slice(&masked_crc32c(&l).to_le_bytes());
            bytes.extend_from_slice(&[7; 100]);
            let split = split.min(bytes.len());
            let mut r = RecordReader::new();
            let mut frames = r.feed(&bytes[..split]);
            frames.extend(r.feed(&bytes[split..]));
            let first_is_record = matches!(frames[0], Frame::Record { .. });
            proptest::prop_assert!(first_is_record, "{:?}", frames[0]);
            proptest::prop_assert!(r.pending_len() as u64 <= MAX_RECORD + 16);
            if len > MAX_RECORD {
                proptest::prop_assert_eq!(&frames[1], &Frame::TooLong { offset: at, len });
                proptest::prop_assert_eq!(r.pending_len(), 0);
            } else {
                proptest::prop_assert_eq!(frames.len(), 1, "a long record waits for its bytes");
            }
        }
    }

    #[test]
    fn a_bad_length_crc_stops_the_file() {
        let mut bytes = frame_record(b"first");
        let second_at = bytes.len();
        bytes.extend(frame_record(b"second"));
        bytes[second_at] ^= 0x40;
        let mut r = RecordReader::new();
        let frames = r.feed(&bytes);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], Frame::BadLengthCrc { offset: second_at as u64 });
        assert!(r.stopped());
        assert!(r.feed(&frame_record(b"later")).is_empty());
    }
}
