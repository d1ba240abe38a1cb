//! The few protobuf messages of a TensorBoard event file, decoded by hand.
//!
//! Field numbers checked against tensorboard/compat/proto/*.proto
//! (tensorflow/tensorboard, 2026):
//! - `Event`: wall_time = 1 (double), step = 2 (int64), file_version = 3
//!   (string), summary = 5 (Summary); the rest (graphs, session logs, ...) is
//!   skipped.
//! - `Summary`: value = 1 (repeated Value).
//! - `Summary.Value`: tag = 1, simple_value = 2 (float), histo = 5
//!   (HistogramProto), tensor = 8 (TensorProto), metadata = 9
//!   (SummaryMetadata: plugin_data = 1 { plugin_name = 1, content = 2 }).
//! - The hparams plugin's content (tensorboard/plugins/hparams/
//!   plugin_data.proto, checked against the installed tensorboard 2.21's
//!   descriptors): `HParamsPluginData`: version = 1, experiment = 2,
//!   session_start_info = 3, session_end_info = 4; `SessionStartInfo`:
//!   hparams = 1 (map<string, google.protobuf.Value>: entry key = 1,
//!   value = 2); `google.protobuf.Value`: null_value = 1, number_value = 2
//!   (double), string_value = 3, bool_value = 4, struct_value = 5,
//!   list_value = 6 (the last two are not read).
//! - `HistogramProto`: min = 1, max = 2, num = 3, sum = 4, sum_squares = 5
//!   (doubles), bucket_limit = 6, bucket = 7 (packed doubles).
//! - `TensorProto`: dtype = 1 (DataType: DT_FLOAT 1, DT_DOUBLE 2, DT_INT32 3,
//!   DT_INT64 9, DT_BFLOAT16 14, DT_HALF 19), tensor_shape = 2
//!   (TensorShapeProto: dim = 2 { size = 1 }), tensor_content = 4 (raw
//!   little-endian), half_val = 13, float_val = 5, double_val = 6,
//!   int_val = 7, int64_val = 10 (packed, or one value per field).
//!
//! Unknown fields are skipped by wire type, as protobuf requires; a
//! malformed message is an error (the caller reports it with the record's
//! offset and skips the record), never a panic.

/// Why a message could not be decoded, with the byte position inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoError(pub String);

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, ProtoError>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterates the (field number, value) pairs of one message.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ProtoError(format!("truncated varint at byte {}", self.pos)));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError(format!("varint longer than 10 bytes before byte {}", self.pos)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(ProtoError(format!(
                "field of {n} bytes at byte {} runs past the end of the message ({} bytes)",
                self.pos,
                self.buf.len()
            )));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn next_field(&mut self) -> Option<Result<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        Some(self.read_field())
    }

    fn read_field(&mut self) -> Result<(u32, Wire<'a>)> {
        let at = self.pos;
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| ProtoError(format!("field number too large at byte {at}")))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Wire::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| ProtoError(format!("length too large at byte {at}")))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Wire::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            other => return Err(ProtoError(format!("unsupported wire type {other} at byte {at}"))),
        };
        Ok((field, wire))
    }
}

fn each_field<'a>(buf: &'a [u8], mut f: impl FnMut(u32, Wire<'a>) -> Result<()>) -> Result<()> {
    let mut fields = Fields::new(buf);
    while let Some(item) = fields.next_field() {
        let (n, w) = item?;
        f(n, w)?;
    }
    Ok(())
}

fn as_f64(w: Wire) -> Option<f64> {
    match w {
        Wire::Fixed64(v) => Some(f64::from_bits(v)),
        _ => None,
    }
}

fn string(w: Wire) -> Option<String> {
    match w {
        Wire::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Appends a repeated double field, packed or not.
fn push_doubles(out: &mut Vec<f64>, w: Wire) {
    match w {
        Wire::Fixed64(v) => out.push(f64::from_bits(v)),
        Wire::Bytes(b) => out.extend(b.chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })),
        _ => {}
    }
}

/// Appends a repeated float field, packed or not.
fn push_floats(out: &mut Vec<f32>, w: Wire) {
    match w {
        Wire::Fixed32(v) => out.push(f32::from_bits(v)),
        Wire::Bytes(b) => out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        _ => {}
    }
}

/// Appends a repeated varint field, packed or not.
fn push_varints(out: &mut Vec<u64>, w: Wire) -> Result<()> {
    match w {
        Wire::Varint(v) => out.push(v),
        Wire::Bytes(b) => {
            let mut f = Fields::new(b);
            while f.pos < b.len() {
                out.push(f.varint()?);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `tensorboard.Event`, the parts we use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub file_version: Option<String>,
    pub values: Vec<SummaryValue>,
}

/// `Summary.Value`, the parts we use.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryValue {
    pub tag: String,
    /// `metadata.plugin_data.plugin_name`. TF2 writers send it only with the
    /// first value of each tag, so readers must remember it per tag.
    pub plugin_name: Option<String>,
    /// `metadata.plugin_data.content`, when there (the hparams plugin keeps
    /// its data there).
    pub plugin_content: Option<Vec<u8>>,
    pub kind: ValueKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Simple(f32),
    Histo(Histogram),
    Tensor(Tensor),
    /// Images, audio, old-style histograms: not used.
    Other,
}

/// `HistogramProto`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub min: f64,
    pub max: f64,
    pub num: f64,
    pub sum: f64,
    pub sum_squares: f64,
    pub bucket_limit: Vec<f64>,
    pub bucket: Vec<f64>,
}

/// `TensorProto`, numeric parts only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tensor {
    pub dtype: i32,
    pub shape: Vec<i64>,
    pub content: Vec<u8>,
    pub half_val: Vec<u64>,
    pub float_val: Vec<f32>,
    pub double_val: Vec<f64>,
    pub int_val: Vec<u64>,
    pub int64_val: Vec<u64>,
}

pub const DT_FLOAT: i32 = 1;
pub const DT_DOUBLE: i32 = 2;
pub const DT_INT32: i32 = 3;
pub const DT_INT64: i32 = 9;
pub const DT_BFLOAT16: i32 = 14;
pub const DT_HALF: i32 = 19;

impl Tensor {
    /// Number of elements the shape promises (1 for rank 0), or None when a
    /// dimension is negative (unknown) or the product overflows.
    pub fn element_count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
    }

    /// All elements as f64, from tensor_content or the typed repeated field.
    /// None for dtypes that are not numbers we know.
    pub fn values_f64(&self) -> Option<Vec<f64>> {
        let content = &self.content;
        let from_content = !content.is_empty();
        let v: Vec<f64> = match self.dtype {
            DT_FLOAT if from_content => {
                content.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
            }
            DT_FLOAT => self.float_val.iter().map(|&x| f64::from(x)).collect(),
            DT_DOUBLE if from_content => content
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    f64::from_le_bytes(a)
                })
                .collect(),
            DT_DOUBLE => self.double_val.clone(),
            DT_HALF if from_content => {
                content.chunks_exact(2).map(|c| f64::from(f16_to_f32(u16::from_le_bytes([c[0], c[1]])))).collect()
            }
            DT_HALF => self.half_val.iter().map(|&x| f64::from(f16_to_f32(x as u16))).collect(),
            DT_BFLOAT16 if from_content => content
                .chunks_exact(2)
                .map(|c| f64::from(f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)))
                .collect(),
            DT_BFLOAT16 => {
                self.half_val.iter().map(|&x| f64::from(f32::from_bits(u32::from(x as u16) << 16))).collect()
            }
            DT_INT32 if from_content => {
                content.chunks_exact(4).map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
            }
            DT_INT32 => self.int_val.iter().map(|&x| f64::from(x as i32)).collect(),
            DT_INT64 if from_content => content
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    i64::from_le_bytes(a) as f64
                })
                .collect(),
            DT_INT64 => self.int64_val.iter().map(|&x| x as i64 as f64).collect(),
            _ => return None,
        };
        Some(v)
    }

    /// The value of a one-element tensor (TF2 scalars are rank 0). Protobuf
    /// lets a repeated field hold one value for a whole constant tensor, so
    /// one value with a one-element shape is what we accept.
    pub fn scalar(&self) -> Option<f64> {
        if self.element_count()? != 1 {
            return None;
        }
        let v = self.values_f64()?;
        v.first().copied()
    }
}

/// IEEE 754 binary16 to f32.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f * 2^-24.
            let v = f as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Decodes one `Event` record.
pub fn decode_event(buf: &[u8]) -> Result<Event> {
    let mut ev = Event::default();
    each_field(buf, |n, w| {
        match (n, w) {
            (1, Wire::Fixed64(v)) => ev.wall_time = f64::from_bits(v),
            (2, Wire::Varint(v)) => ev.step = v as i64,
            (3, w) => ev.file_version = string(w),
            (5, Wire::Bytes(b)) => decode_summary(b, &mut ev.values)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(ev)
}

fn decode_summary(buf: &[u8], out: &mut Vec<SummaryValue>) -> Result<()> {
    each_field(buf, |n, w| {
        if let (1, Wire::Bytes(b)) = (n, w) {
            out.push(decode_value(b)?);
        }
        Ok(())
    })
}

fn decode_value(buf: &[u8]) -> Result<SummaryValue> {
    let mut tag = String::new();
    let mut plugin_name = None;
    let mut plugin_content = None;
    let mut kind = ValueKind::Other;
    each_field(buf, |n, w| {
        match (n, w) {
            (1, w) => tag = string(w).unwrap_or_default(),
            (2, Wire::Fixed32(v)) => kind = ValueKind::Simple(f32::from_bits(v)),
            (5, Wire::Bytes(b)) => kind = ValueKind::Histo(decode_histogram(b)?),
            (8, Wire::Bytes(b)) => kind = ValueKind::Tensor(decode_tensor(b)?),
            (9, Wire::Bytes(b)) => (plugin_name, plugin_content) = decode_plugin_data(b)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(SummaryValue { tag, plugin_name, plugin_content, kind })
}

/// `SummaryMetadata.plugin_data`: (plugin_name, content).
fn decode_plugin_data(buf: &[u8]) -> Result<(Option<String>, Option<Vec<u8>>)> {
    let mut name = None;
    let mut content = None;
    each_field(buf, |n, w| {
        if let (1, Wire::Bytes(plugin_data)) = (n, w) {
            each_field(plugin_data, |n, w| {
                match (n, w) {
                    (1, w) => name = string(w),
                    (2, Wire::Bytes(b)) => content = Some(b.to_vec()),
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok((name, content))
}

/// The hyperparameters of an hparams-plugin `HParamsPluginData`, as
/// (name, text), when it holds a `session_start_info` (the experiment and
/// session-end summaries hold none: `Ok(None)`). Numbers are written as
/// [`super::hparams::number_text`] does, booleans `true`/`false`; null,
/// struct and list values are left out.
pub fn decode_hparams_plugin(content: &[u8]) -> Result<Option<Vec<(String, String)>>> {
    let mut out = None;
    each_field(content, |n, w| {
        if let (3, Wire::Bytes(start)) = (n, w) {
            let list: &mut Vec<(String, String)> = out.get_or_insert_with(Vec::new);
            each_field(start, |n, w| {
                if let (1, Wire::Bytes(entry)) = (n, w) {
                    let (mut key, mut value) = (String::new(), None);
                    each_field(entry, |n, w| {
                        match (n, w) {
                            (1, w) => key = string(w).unwrap_or_default(),
                            (2, Wire::Bytes(v)) => value = decode_struct_value(v)?,
                            _ => {}
                        }
                        Ok(())
                    })?;
                    if let Some(v) = value
                        && !key.is_empty()
                    {
                        list.push((key, v));
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(out)
}

/// A `google.protobuf.Value` as text (numbers, strings, booleans only).
fn decode_struct_value(buf: &[u8]) -> Result<Option<String>> {
    let mut out = None;
    each_field(buf, |n, w| {
        match (n, w) {
            (2, Wire::Fixed64(v)) => out = Some(super::hparams::number_text(f64::from_bits(v))),
            (3, w) => out = string(w),
            (4, Wire::Varint(v)) => out = Some((v != 0).to_string()),
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

fn decode_histogram(buf: &[u8]) -> Result<Histogram> {
    let mut h = Histogram::default();
    each_field(buf, |n, w| {
        match n {
            1 => h.min = as_f64(w).unwrap_or(h.min),
            2 => h.max = as_f64(w).unwrap_or(h.max),
            3 => h.num = as_f64(w).unwrap_or(h.num),
            4 => h.sum = as_f64(w).unwrap_or(h.sum),
            5 => h.sum_squares = as_f64(w).unwrap_or(h.sum_squares),
            6 => push_doubles(&mut h.bucket_limit, w),
            7 => push_doubles(&mut h.bucket, w),
            _ => {}
        }
        Ok(())
    })?;
    Ok(h)
}

fn decode_tensor(buf: &[u8]) -> Result<Tensor> {
    let mut t = Tensor::default();
    each_field(buf, |n, w| {
        match (n, w) {
            (1, Wire::Varint(v)) => t.dtype = v as i32,
            (2, Wire::Bytes(b)) => t.shape = decode_shape(b)?,
            (4, Wire::Bytes(b)) => t.content = b.to_vec(),
            (5, w) => push_floats(&mut t.float_val, w),
            (6, w) => push_doubles(&mut t.double_val, w),
            (7, w) => push_varints(&mut t.int_val, w)?,
            (10, w) => push_varints(&mut t.int64_val, w)?,
            (13, w) => push_varints(&mut t.half_val, w)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(t)
}

fn decode_shape(buf: &[u8]) -> Result<Vec<i64>> {
    let mut dims = Vec::new();
    each_field(buf, |n, w| {
        if let (2, Wire::Bytes(dim)) = (n, w) {
            let mut size = 0i64;
            each_field(dim, |n, w| {
                if let (1, Wire::Varint(v)) = (n, w) {
                    size = v as i64;
                }
                Ok(())
            })?;
            dims.push(size);
        }
        Ok(())
    })?;
    Ok(dims)
}

/// Minimal encoders, for tests and fuzzing: they build the messages the
/// decoder reads, with the same field numbers.
pub mod encode {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// An `Event` with wall_time, step and a Summary of `values` (each an
    /// encoded `Summary.Value`).
    pub fn event(wall_time: f64, step: i64, values: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        key(&mut out, 1, 1);
        out.extend_from_slice(&wall_time.to_le_bytes());
        key(&mut out, 2, 0);
        varint(&mut out, step as u64);
        let mut summary = Vec::new();
        for v in values {
            bytes(&mut summary, 1, v);
        }
        bytes(&mut out, 5, &summary);
        out
    }

    /// The first record of every event file.
    pub fn file_version_event(wall_time: f64) -> Vec<u8> {
        let mut out = Vec::new();
        key(&mut out, 1, 1);
        out.extend_from_slice(&wall_time.to_le_bytes());
        bytes(&mut out, 3, b"brain.Event:2");
        out
    }

    /// A `Summary.Value` with a simple_value (TF1, torch).
    pub fn simple_value(tag: &str, v: f32) -> Vec<u8> {
        let mut out = Vec::new();
        bytes(&mut out, 1, tag.as_bytes());
        key(&mut out, 2, 5);
        out.extend_from_slice(&v.to_le_bytes());
        out
    }

    /// A `Summary.Value` of the hparams plugin with a `session_start_info`
    /// holding `hparams` (numbers, strings, booleans), as
    /// `torch.utils.tensorboard.summary.hparams` writes it.
    pub fn hparams_session_start(hparams: &[(&str, HParam)]) -> Vec<u8> {
        let mut start = Vec::new();
        for (k, v) in hparams {
            let mut value = Vec::new();
            match v {
                HParam::Number(x) => {
                    key(&mut value, 2, 1);
                    value.extend_from_slice(&x.to_le_bytes());
                }
                HParam::Text(t) => bytes(&mut value, 3, t.as_bytes()),
                HParam::Bool(b) => {
                    key(&mut value, 4, 0);
                    varint(&mut value, u64::from(*b));
                }
            }
            let mut entry = Vec::new();
            bytes(&mut entry, 1, k.as_bytes());
            bytes(&mut entry, 2, &value);
            bytes(&mut start, 1, &entry);
        }
        let mut content = Vec::new();
        key(&mut content, 1, 0);
        varint(&mut content, 0);
        bytes(&mut content, 3, &start);
        let mut pd = Vec::new();
        bytes(&mut pd, 1, b"hparams");
        bytes(&mut pd, 2, &content);
        let mut md = Vec::new();
        bytes(&mut md, 1, &pd);
        let mut out = Vec::new();
        bytes(&mut out, 1, b"_hparams_/session_start_info");
        bytes(&mut out, 9, &md);
        out
    }

    /// One hyperparameter value for [`hparams_session_start`].
    #[derive(Debug, Clone, Copy)]
    pub enum HParam<'a> {
        Number(f64),
        Text(&'a str),
        Bool(bool),
    }

    /// A `Summary.Value` with a rank-0 DT_FLOAT tensor in float_val and,
    /// when `plugin` is given, its metadata (TF2 scalars).
    pub fn tensor_scalar(tag: &str, v: f32, plugin: Option<&str>) -> Vec<u8> {
        let mut tensor = Vec::new();
        key(&mut tensor, 1, 0);
        varint(&mut tensor, 1);
        bytes(&mut tensor, 2, &[]);
        bytes(&mut tensor, 5, &v.to_le_bytes());
        let mut out = Vec::new();
        bytes(&mut out, 1, tag.as_bytes());
        bytes(&mut out, 8, &tensor);
        if let Some(p) = plugin {
            let mut pd = Vec::new();
            bytes(&mut pd, 1, p.as_bytes());
            let mut md = Vec::new();
            bytes(&mut md, 1, &pd);
            bytes(&mut out, 9, &md);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_event_decodes_to_its_values() {
        let rec = encode::event(
            12.5,
            300,
            &[encode::simple_value("loss", 0.25), encode::tensor_scalar("epoch_loss", 0.5, Some("scalars"))],
        );
        let ev = decode_event(&rec).expect("decodes");
        assert_eq!(ev.wall_time, 12.5);
        assert_eq!(ev.step, 300);
        assert_eq!(ev.values.len(), 2);
        assert_eq!(ev.values[0].tag, "loss");
        assert_eq!(ev.values[0].kind, ValueKind::Simple(0.25));
        assert_eq!(ev.values[1].plugin_name.as_deref(), Some("scalars"));
        let ValueKind::Tensor(t) = &ev.values[1].kind else { panic!("tensor expected") };
        assert_eq!(t.scalar(), Some(0.5));
    }

    #[test]
    fn tensor_values_come_from_content_or_typed_fields() {
        let double = Tensor { dtype: DT_DOUBLE, content: 0.75f64.to_le_bytes().to_vec(), ..Tensor::default() };
        assert_eq!(double.scalar(), Some(0.75));
        let float = Tensor { dtype: DT_FLOAT, content: 0.5f32.to_le_bytes().to_vec(), ..Tensor::default() };
        assert_eq!(float.scalar(), Some(0.5));
        let int = Tensor { dtype: DT_INT64, int64_val: vec![(-3i64) as u64], ..Tensor::default() };
        assert_eq!(int.scalar(), Some(-3.0));
        let bf16 = Tensor { dtype: DT_BFLOAT16, half_val: vec![0x3f80], ..Tensor::default() };
        assert_eq!(bf16.scalar(), Some(1.0));
        // Not one element: not a scalar.
        let vector = Tensor { dtype: DT_FLOAT, shape: vec![2], float_val: vec![1.0, 2.0], ..Tensor::default() };
        assert_eq!(vector.scalar(), None);
        // A string tensor (text plugin): no number.
        let text = Tensor { dtype: 7, ..Tensor::default() };
        assert_eq!(text.scalar(), None);
    }

    #[test]
    fn repeated_fields_read_packed_or_one_by_one() {
        // float_val = 5 as two unpacked fixed32 fields, then packed.
        let mut t = vec![0x08, 0x01];
        for v in [1.5f32, 2.5] {
            t.push((5 << 3) | 5);
            t.extend_from_slice(&v.to_le_bytes());
        }
        t.push((5 << 3) | 2);
        t.push(4);
        t.extend_from_slice(&3.5f32.to_le_bytes());
        let decoded = decode_tensor(&t).expect("decodes");
        assert_eq!(decoded.float_val, vec![1.5, 2.5, 3.5]);
    }

    #[test]
    fn half_precision_values_convert() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }

    #[test]
    fn a_cut_message_is_an_error_not_a_panic() {
        let rec = encode::event(1.0, 2, &[encode::simple_value("loss", 1.0)]);
        for cut in 0..rec.len() {
            // Any prefix either decodes (ends on a field boundary) or errors.
            let _ = decode_event(&rec[..cut]);
        }
        assert!(decode_event(&rec[..rec.len() - 2]).is_err());
    }
}
