//! From TensorBoard records to points and histograms: decodes each event,
//! keeps scalars (`simple_value`, or one-element tensors of the `scalars`
//! plugin or of none) and histograms (`HistogramProto`, or TF2's `[k, 3]`
//! tensors of the `histograms` plugin) and the hyperparameters of the
//! `hparams` plugin's session start, and turns damage into warnings naming
//! the file and the byte offset.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::TagHistogram;
use super::assemble::Store;
use super::proto::{Tensor, ValueKind, decode_event, decode_hparams_plugin};
use super::tfrecord::Frame;

/// Reads one frame of the file at `path`; `prefix` goes before every tag
/// (`validation/` in a Keras split folder), `plugins` remembers each tag's
/// plugin (TF2 sends it with the first value only); hyperparameters go to
/// `hparams`.
#[allow(clippy::too_many_arguments)]
pub fn read_frame(
    frame: Frame,
    path: &Path,
    prefix: &str,
    source: u32,
    plugins: &mut HashMap<String, String>,
    store: &mut Store,
    histograms: &mut Vec<TagHistogram>,
    hparams: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) {
    let (offset, data) = match frame {
        Frame::Record { offset, data } => (offset, data),
        Frame::BadDataCrc { offset } => {
            warnings.push(format!("{}: the record at byte {offset} fails its CRC; skipped", path.display()));
            return;
        }
        Frame::TooLong { offset, len } => {
            warnings.push(format!(
                "{}: the record at byte {offset} says it is {len} bytes long, over the {} MB a record may be; the \
                 rest of this file is not read",
                path.display(),
                super::tfrecord::MAX_RECORD >> 20
            ));
            return;
        }
        Frame::BadLengthCrc { offset } => {
            warnings.push(format!(
                "{}: the record length at byte {offset} fails its CRC; the rest of this file is not read",
                path.display()
            ));
            return;
        }
    };
    let ev = match decode_event(&data) {
        Ok(ev) => ev,
        Err(e) => {
            warnings
                .push(format!("{}: the record at byte {offset} is not a valid event ({e}); skipped", path.display()));
            return;
        }
    };
    if ev.values.is_empty() {
        return;
    }
    let step = u64::try_from(ev.step).ok();
    let wall = ev.wall_time.is_finite().then_some(ev.wall_time);
    let row = store.row(source, step, None, wall);
    for v in ev.values {
        if let Some(p) = &v.plugin_name {
            plugins.insert(v.tag.clone(), p.clone());
        }
        if v.plugin_name.as_deref() == Some("hparams")
            && let Some(content) = &v.plugin_content
        {
            match decode_hparams_plugin(content) {
                Ok(found) => hparams.extend(found.into_iter().flatten()),
                Err(e) => warnings.push(format!(
                    "{}: the hyperparameters in the record at byte {offset} cannot be read ({e}); skipped",
                    path.display()
                )),
            }
            continue;
        }
        let plugin = plugins.get(&v.tag).map(String::as_str);
        let tag = format!("{prefix}{}", v.tag);
        match v.kind {
            ValueKind::Simple(x) => store.push(&row, &tag, x),
            ValueKind::Tensor(t) => match plugin {
                Some("histograms") => {
                    if let Some(h) = tensor_histogram(&t, &tag, step.unwrap_or(0), ev.wall_time) {
                        histograms.push(h);
                    }
                }
                None | Some("scalars") => {
                    if let Some(x) = t.scalar() {
                        store.push(&row, &tag, x as f32);
                    }
                }
                Some(_) => {}
            },
            ValueKind::Histo(h) => histograms.push(TagHistogram {
                tag,
                step: step.unwrap_or(0),
                wall_time: ev.wall_time,
                min: h.min,
                max: h.max,
                num: h.num,
                sum: Some(h.sum),
                sum_squares: Some(h.sum_squares),
                bucket_limits: h.bucket_limit,
                bucket_counts: h.bucket,
            }),
            ValueKind::Other => {}
        }
    }
}

/// A TF2 histogram: a `[k, 3]` tensor of (left edge, right edge, count).
fn tensor_histogram(t: &Tensor, tag: &str, step: u64, wall_time: f64) -> Option<TagHistogram> {
    if t.shape.len() != 2 || t.shape[1] != 3 || t.shape[0] <= 0 {
        return None;
    }
    let v = t.values_f64()?;
    if v.len() != t.element_count()? {
        return None;
    }
    let buckets: Vec<&[f64]> = v.chunks_exact(3).collect();
    Some(TagHistogram {
        tag: tag.to_string(),
        step,
        wall_time,
        min: buckets.first()?[0],
        max: buckets.last()?[1],
        num: buckets.iter().map(|b| b[2]).sum(),
        sum: None,
        sum_squares: None,
        bucket_limits: buckets.iter().map(|b| b[1]).collect(),
        bucket_counts: buckets.iter().map(|b| b[2]).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::proto::encode;

    #[test]
    fn non_finite_scalars_are_kept_as_logged() {
        let rec = encode::event(
            1.0,
            3,
            &[
                encode::simple_value("loss", f32::NAN),
                encode::simple_value("val_loss", f32::INFINITY),
                encode::tensor_scalar("epoch_loss", f32::NEG_INFINITY, Some("scalars")),
                encode::tensor_scalar("val_acc", f32::NAN, None),
            ],
        );
        let (mut store, mut hist, mut w, mut plugins) = (Store::default(), Vec::new(), Vec::new(), HashMap::new());
        let frame = Frame::Record { offset: 0, data: rec };
        read_frame(frame, Path::new("e"), "", 0, &mut plugins, &mut store, &mut hist, &mut BTreeMap::new(), &mut w);
        assert!(w.is_empty(), "{w:?}");
        let v: Vec<f32> = store.points().iter().map(|p| p.value).collect();
        assert_eq!(v.len(), 4);
        assert!(v[0].is_nan() && v[3].is_nan());
        assert_eq!((v[1], v[2]), (f32::INFINITY, f32::NEG_INFINITY));
    }
}

#[cfg(test)]
mod hparams_tests {
    use super::*;
    use crate::ingest::proto::encode::{self, HParam};

    #[test]
    fn the_hparams_plugin_gives_hyperparameters_not_scalars() {
        let rec = encode::event(
            1.0,
            0,
            &[encode::hparams_session_start(&[
                ("hidden", HParam::Number(32.0)),
                ("lr", HParam::Number(0.05)),
                ("optimizer", HParam::Text("sgd")),
                ("amp", HParam::Bool(false)),
            ])],
        );
        let (mut store, mut hist, mut w, mut plugins) = (Store::default(), Vec::new(), Vec::new(), HashMap::new());
        let mut hp = BTreeMap::new();
        let frame = Frame::Record { offset: 0, data: rec };
        read_frame(frame, Path::new("e"), "", 0, &mut plugins, &mut store, &mut hist, &mut hp, &mut w);
        assert!(w.is_empty(), "{w:?}");
        assert!(store.points().is_empty() && store.tags().is_empty());
        let got: Vec<(&str, &str)> = hp.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, vec![("amp", "false"), ("hidden", "32"), ("lr", "0.05"), ("optimizer", "sgd")]);
    }
}
