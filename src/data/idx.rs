//! The IDX file format of MNIST and its relatives, raw or gzipped.
//!
//! Header: two zero bytes, a type byte (0x08 = unsigned byte, the only type
//! these datasets use), the number of dimensions, then each dimension as a
//! big-endian `u32`; the data follow, row-major. The reader checks all of it
//! and that the data are exactly as long as the dimensions say.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// Everything that can be wrong with a dataset on disk. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a valid gzip stream: {source}", path.display())]
    Gzip { path: PathBuf, source: io::Error },
    #[error("{}: not an IDX file: magic number is {found}, expected 00 00 08 0N", path.display())]
    BadMagic { path: PathBuf, found: HexBytes },
    #[error("{}: IDX element type 0x{found:02x} is not supported (only 0x08, unsigned bytes)", path.display())]
    UnsupportedType { path: PathBuf, found: u8 },
    #[error("{}: truncated: the header says {expected} bytes of data, the file has {found}", path.display())]
    Truncated { path: PathBuf, expected: usize, found: usize },
    #[error("{}: {extra} unexpected bytes after the {expected} bytes of data the header announces", path.display())]
    TrailingBytes { path: PathBuf, expected: usize, extra: usize },
    #[error("{}: expected {want}, found dimensions {dims:?}", path.display())]
    Shape { path: PathBuf, want: &'static str, dims: Vec<usize> },
    #[error("{}: holds no samples", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{} has {image_count} images but {} has {label_count} labels",
        images.display(),
        labels.display()
    )]
    CountMismatch { images: PathBuf, image_count: usize, labels: PathBuf, label_count: usize },
    #[error("{}: label {label} at index {index} is outside 0..{classes}", path.display())]
    LabelOutOfRange { path: PathBuf, index: usize, label: u8, classes: usize },
    #[error("{}: missing {name} (or {name}.gz)", dir.display())]
    Missing { dir: PathBuf, name: String },
    #[error("{}: no such dataset folder", dir.display())]
    NoFolder { dir: PathBuf },
    /// A generated set asked for what it cannot make (its preset field is `dataset`).
    #[error("{0}")]
    Spec(String),
}

/// Bytes shown as hex in an error message.
#[derive(Debug)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        f.write_str(&parts.join(" "))
    }
}

/// A decoded IDX file: its dimensions and `u8` data, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxFile {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads and checks one IDX file; gzip is detected by its magic bytes.
pub fn read_idx(path: &Path) -> Result<IdxFile, DataError> {
    let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io_err)?;
    let mut raw = BufReader::new(file);
    let mut head = [0u8; 2];
    let got = read_fully(&mut raw, &mut head).map_err(io_err)?;
    let chained = (&head[..got]).chain(raw);
    let bytes = if got == 2 && head == [0x1f, 0x8b] {
        let mut out = Vec::new();
        GzDecoder::new(chained)
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip { path: path.to_path_buf(), source })?;
        out
    } else {
        let mut out = Vec::new();
        let mut chained = chained;
        chained.read_to_end(&mut out).map_err(io_err)?;
        out
    };
    parse_idx(path, bytes)
}

/// Reads only the header of an IDX file (raw or gzipped) and returns its
/// dimensions: the shape of a dataset without reading its data, so sizes
/// can be checked before anything large is allocated. The full read
/// ([`read_idx`]) still checks that the data are as long as announced.
pub fn read_idx_dims(path: &Path) -> Result<Vec<usize>, DataError> {
    let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
    let mut raw = BufReader::new(File::open(path).map_err(io_err)?);
    let mut head = [0u8; 2];
    let got = read_fully(&mut raw, &mut head).map_err(io_err)?;
    let chained = (&head[..got]).chain(raw);
    // The longest header: 4 bytes, then 255 dimensions of 4 bytes.
    let mut header = vec![0u8; 4 + 4 * 255];
    let gzipped = got == 2 && head == [0x1f, 0x8b];
    let n = if gzipped {
        read_fully(&mut GzDecoder::new(chained), &mut header)
            .map_err(|source| DataError::Gzip { path: path.to_path_buf(), source })?
    } else {
        read_fully(&mut chained.take(header.len() as u64), &mut header).map_err(io_err)?
    };
    header.truncate(n);
    let (dims, header_len) = parse_header(path, &header)?;
    if !gzipped {
        // A raw file's length tells its data's length: check it now, as the
        // full read would (a gzipped one is checked when it is read).
        let len = std::fs::metadata(path).map_err(io_err)?.len() as usize;
        check_length(path, &dims, len.saturating_sub(header_len))?;
    }
    Ok(dims)
}

fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Checks the header of decompressed IDX bytes and keeps the data.
pub fn parse_idx(path: &Path, mut bytes: Vec<u8>) -> Result<IdxFile, DataError> {
    let (dims, header) = parse_header(path, &bytes)?;
    check_length(path, &dims, bytes.len() - header)?;
    bytes.drain(..header);
    Ok(IdxFile { dims, data: bytes })
}

/// Whether `found` bytes of data are exactly what `dims` announce.
fn check_length(path: &Path, dims: &[usize], found: usize) -> Result<(), DataError> {
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).unwrap_or(usize::MAX);
    if found < expected {
        return Err(DataError::Truncated { path: path.to_path_buf(), expected, found });
    }
    if found > expected {
        return Err(DataError::TrailingBytes { path: path.to_path_buf(), expected, extra: found - expected });
    }
    Ok(())
}

/// The dimensions an IDX header announces, and the header's length.
fn parse_header(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, usize), DataError> {
    let path_buf = || path.to_path_buf();
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[3] == 0 {
        return Err(DataError::BadMagic { path: path_buf(), found: HexBytes(bytes.iter().take(4).copied().collect()) });
    }
    if bytes[2] != 0x08 {
        return Err(DataError::UnsupportedType { path: path_buf(), found: bytes[2] });
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated { path: path_buf(), expected: header, found: bytes.len() });
    }
    let dims: Vec<usize> =
        bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    Ok((dims, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dims: &[u32]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn parses_a_well_formed_file() {
        let mut bytes = header(&[2, 3]);
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let f = parse_idx(Path::new("x"), bytes).unwrap();
        assert_eq!(f.dims, vec![2, 3]);
        assert_eq!(f.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_bad_magic_truncation_and_trailing_bytes() {
        let err = parse_idx(Path::new("a.idx"), vec![1, 2, 3, 4]).unwrap_err().to_string();
        assert!(err.starts_with("a.idx: not an IDX file"), "{err}");
        let mut short = header(&[2, 3]);
        short.extend_from_slice(&[1, 2]);
        let err = parse_idx(Path::new("b.idx"), short).unwrap_err().to_string();
        assert_eq!(err, "b.idx: truncated: the header says 6 bytes of data, the file has 2");
        let mut long = header(&[1]);
        long.extend_from_slice(&[1, 2]);
        assert!(matches!(parse_idx(Path::new("c"), long), Err(DataError::TrailingBytes { extra: 1, .. })));
        let mut float = header(&[1]);
        float[2] = 0x0d;
        assert!(matches!(parse_idx(Path::new("d"), float), Err(DataError::UnsupportedType { found: 0x0d, .. })));
    }
}
