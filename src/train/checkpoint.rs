//! Checkpoints of the weights in the safetensors format (written and read
//! with the `safetensors` crate), so PyTorch (`safetensors.torch.load_file`)
//! and numpy (`safetensors.numpy`) open them as they are, and
//! `--init-from` loads them back (the output layer may differ: transfer
//! learning keeps the hidden layers and starts a fresh output layer). Tensors use PyTorch's layouts: `dense.{l}.weight` is `[out, in]`
//! (as `nn.Linear`), `conv.{i}.weight` is `[c_out, c_in, k, k]` (as
//! `nn.Conv2d`). The file is written beside its destination and renamed
//! into place, so a killed process never leaves half a checkpoint. File
//! names come from the preset's name, reduced to `[A-Za-z0-9._-]`, so no
//! name can write outside the checkpoint folder.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::nn::Network;

/// One named tensor: shape and values, row-major.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn tensors(net: &Network) -> Vec<Tensor> {
    let mut out = Vec::new();
    if let Some(stack) = net.conv() {
        for (i, ((k, c_in, c_out), p)) in stack.conv_shapes().into_iter().zip(stack.params()).enumerate() {
            // Ours: w[(dy·k + dx)·c_in + ci, o]; PyTorch: [o, ci, dy, dx].
            let mut data = Vec::with_capacity(p.w.len());
            for o in 0..c_out {
                for ci in 0..c_in {
                    for dy in 0..k {
                        for dx in 0..k {
                            data.push(p.w[[(dy * k + dx) * c_in + ci, o]]);
                        }
                    }
                }
            }
            out.push(Tensor { name: format!("conv.{i}.weight"), shape: vec![c_out, c_in, k, k], data });
            out.push(Tensor { name: format!("conv.{i}.bias"), shape: vec![c_out], data: p.b.to_vec() });
        }
    }
    for (l, layer) in net.layers().iter().enumerate() {
        let (fan_in, fan_out) = layer.w.dim();
        out.push(Tensor {
            name: format!("dense.{l}.weight"),
            shape: vec![fan_out, fan_in],
            data: layer.w.t().iter().copied().collect(),
        });
        out.push(Tensor { name: format!("dense.{l}.bias"), shape: vec![fan_out], data: layer.b.to_vec() });
    }
    out
}

/// Why weights could not be loaded: every case names the first mismatch.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: not a safetensors file: {message}")]
    Format { path: String, message: String },
    #[error("{path}: {message}")]
    Mismatch { path: String, message: String },
}

/// What a load kept and what it left fresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub metadata: BTreeMap<String, String>,
    /// The output layer's shape differs (other classes): it starts fresh.
    pub fresh_output: bool,
}

/// The safetensors bytes of `net`'s weights, with `metadata` (string pairs).
pub fn encode(net: &Network, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let tensors = tensors(net);
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| (t.name.clone(), TensorView::new(Dtype::F32, t.shape.clone(), b).expect("sizes match shapes")))
        .collect();
    let meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    sorted_header(safetensors::serialize(views, Some(meta)).expect("f32 tensors of matching sizes serialize"))
}

/// The same safetensors bytes with the JSON header's keys in sorted order:
/// the crate writes the metadata from a `HashMap`, so one network saved
/// twice gave two different files (its metadata in a random order). The
/// data offsets are relative to the data, so only the header changes; it
/// stays padded to 8 bytes.
fn sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    // serde_json's maps are sorted (no `preserve_order`).
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("the crate's own header");
    let mut text = serde_json::to_vec(&header).expect("JSON");
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// Loads the weights of `path` into `net`, which must have the same layers
/// (the output layer may differ: it then stays fresh, for transfer learning).
/// `class_list` names the classes this net predicts (`Some([5, 6, 7, 8, 9])`
/// as written in the file's `class_list`): when the file was trained on
/// other classes its output layer is left fresh even if the shapes agree.
pub fn load(net: &mut Network, path: &Path, class_list: &str) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let bytes = read_bounded(path).map_err(|source| LoadError::Read { path: name.clone(), source })?;
    let format = |e: safetensors::SafeTensorError| LoadError::Format { path: name.clone(), message: e.to_string() };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(format)?;
    let metadata: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let file = SafeTensors::deserialize(&bytes).map_err(format)?;
    let mismatch = |message: String| LoadError::Mismatch { path: name.clone(), message };
    let want = tensors(net);
    let dense_in_file = file.names().iter().filter(|n| n.starts_with("dense.") && n.ends_with(".weight")).count();
    let dense_here = net.layers().len();
    if dense_in_file != dense_here {
        return Err(mismatch(format!(
            "{dense_in_file} dense layer(s) in the file, {dense_here} in this network (hidden {:?})",
            net.hidden()
        )));
    }
    let last = format!("dense.{}.weight", dense_here - 1);
    let other_classes = metadata.get("class_list").is_some_and(|c| c != class_list);
    let mut fresh_output = other_classes;
    let mut values: Vec<Option<Vec<f32>>> = Vec::with_capacity(want.len());
    for t in &want {
        let view = file.tensor(&t.name).map_err(|_| mismatch(format!("no tensor `{}` in the file", t.name)))?;
        if view.dtype() != Dtype::F32 {
            return Err(mismatch(format!("`{}` is {:?}, not F32", t.name, view.dtype())));
        }
        let is_output = t.name == last || t.name == last.replace("weight", "bias");
        if is_output && other_classes {
            values.push(None);
            continue;
        }
        if view.shape() != t.shape.as_slice() {
            // Only the output layer may differ, and only in its classes.
            let input_same = t.shape.len() < 2 || view.shape().get(1) == t.shape.get(1);
            if is_output && input_same {
                fresh_output = true;
                values.push(None);
                continue;
            }
            let what = shape_words(&t.name, view.shape(), &t.shape);
            return Err(mismatch(format!(
                "`{}` has shape {:?} in the file, {:?} in this network{what}",
                t.name,
                view.shape(),
                t.shape
            )));
        }
        values.push(Some(view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()));
    }
    let loaded: Vec<Tensor> =
        want.into_iter().zip(values).filter_map(|(t, v)| v.map(|data| Tensor { data, ..t })).collect();
    put(net, &loaded);
    Ok(Loaded { metadata, fresh_output })
}

/// Which size differs between a tensor in a file and in this network, in
/// the preset's words. PyTorch layouts put the output first (`[out, in]`,
/// `[filters, channels, k, k]`): a different first size is the layer's
/// width (issue 22: a checkpoint of another `hidden` width once said
/// "(input size)").
fn shape_words(name: &str, file: &[usize], here: &[usize]) -> String {
    let layer = name.split('.').nth(1).unwrap_or("?");
    let conv = name.starts_with("conv.");
    let first = name.starts_with("dense.0.") || name.starts_with("conv.0.");
    if file.first() != here.first() {
        let unit = if conv { "filters" } else { "units" };
        let field = if conv { "conv" } else { "hidden" };
        return format!(
            " (layer {layer} has {} {unit} in the file, {} here: another `{field}`)",
            file.first().map_or("no".into(), |n| n.to_string()),
            here.first().map_or("no".into(), |n| n.to_string())
        );
    }
    if file.get(1) != here.get(1) {
        return if first {
            " (the input size: the file was trained on other data or another `conv`)".into()
        } else {
            " (its input: the layer before it has another width)".into()
        };
    }
    " (the kernel size: another `conv`)".into()
}

/// Writes PyTorch-layout tensors back into the network's own layouts.
fn put(net: &mut Network, tensors: &[Tensor]) {
    let find = |name: &str| tensors.iter().find(|t| t.name == name);
    let conv_shapes = net.conv().map(|c| c.conv_shapes()).unwrap_or_default();
    let mut i = 0;
    for (c, (k, c_in, c_out)) in conv_shapes.into_iter().enumerate() {
        if let Some(t) = find(&format!("conv.{c}.weight")) {
            let w = net.tensor_mut(i);
            let mut src = t.data.iter();
            for o in 0..c_out {
                for ci in 0..c_in {
                    for dy in 0..k {
                        for dx in 0..k {
                            w[((dy * k + dx) * c_in + ci) * c_out + o] = *src.next().expect("shape checked");
                        }
                    }
                }
            }
        }
        if let Some(t) = find(&format!("conv.{c}.bias")) {
            net.tensor_mut(i + 1).copy_from_slice(&t.data);
        }
        i += 2;
    }
    for l in 0..net.layers().len() {
        let (fan_in, fan_out) = net.layers()[l].w.dim();
        if let Some(t) = find(&format!("dense.{l}.weight")) {
            let w = net.tensor_mut(i);
            // File: [out, in] row-major; ours: [in, out] row-major.
            for o in 0..fan_out {
                for j in 0..fan_in {
                    w[j * fan_out + o] = t.data[o * fan_in + j];
                }
            }
        }
        if let Some(t) = find(&format!("dense.{l}.bias")) {
            net.tensor_mut(i + 1).copy_from_slice(&t.data);
        }
        i += 2;
    }
}

/// `name` as a file-name part: every character outside `[A-Za-z0-9._-]`
/// becomes `_`, and leading dots, dashes and underscores go (no hidden
/// file, no `..`, nothing an option parser takes for a flag). Never empty.
pub fn sanitize(name: &str) -> String {
    let mapped: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    let trimmed = mapped.trim_start_matches(['.', '_', '-']);
    if trimmed.is_empty() { "run".to_string() } else { trimmed.to_string() }
}

/// The checkpoint of preset `name` at `step`, inside `dir` whatever the name.
pub fn path_in(dir: &Path, name: &str, step: u64) -> PathBuf {
    dir.join(format!("{}-step{step}.safetensors", sanitize(name)))
}

/// The largest checkpoint read: the biggest shipped network's weights are
/// a few megabytes. A larger file is refused before it is read (a device
/// like `/dev/zero` would otherwise be read until memory runs out).
pub const MAX_CHECKPOINT: u64 = 1 << 30;

/// The bytes of a regular file of at most `MAX_CHECKPOINT` bytes.
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_CHECKPOINT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} bytes, over the {} MB a checkpoint may be", meta.len(), MAX_CHECKPOINT >> 20),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again while reading: the file may grow after the check.
    file.take(MAX_CHECKPOINT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CHECKPOINT {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "grew past the checkpoint size limit while read"));
    }
    Ok(bytes)
}

/// Writes the checkpoint to `path` atomically (a temporary file in the same
/// folder, then a rename), creating the folder if needed. A path with a
/// `..` component is refused: a name joined to the folder unsanitized
/// (`../../escaped`) must not climb out of it.
pub fn save(net: &Network, metadata: &BTreeMap<String, String>, path: &Path) -> io::Result<()> {
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: a checkpoint path may not contain `..`", path.display()),
        ));
    }
    // The rename below replaces whatever `path` is: a device, a FIFO or a
    // folder must be refused, not replaced (`--save /dev/full` as root
    // would swap the device node for a regular file).
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a regular file; give a file path to save to", path.display()),
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("safetensors.partial");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode(net, metadata))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::conv::ConvLayer;
    use crate::nn::{Activation, Init};
    use rand::SeedableRng;
    use serde_json::json;

    /// Reads the file back the way a safetensors loader does.
    fn decode(bytes: &[u8]) -> (serde_json::Value, &[u8]) {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (serde_json::from_slice(&bytes[8..8 + n]).unwrap(), &bytes[8 + n..])
    }

    fn read(data: &[u8], entry: &serde_json::Value) -> Vec<f32> {
        let off = entry["data_offsets"].as_array().unwrap();
        let (a, b) = (off[0].as_u64().unwrap() as usize, off[1].as_u64().unwrap() as usize);
        data[a..b].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }

    #[test]
    fn tensors_round_trip_in_pytorch_layouts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let specs = [ConvLayer::Conv { filters: 2, kernel: 3 }, ConvLayer::MaxPool(2)];
        let net = Network::with_conv((4, 4, 1), &specs, &[3], 5, Activation::Relu, Init::Auto, &mut rng).unwrap();
        let meta = BTreeMap::from([("preset".to_string(), "t".to_string())]);
        let bytes = encode(&net, &meta);
        let (header, data) = decode(&bytes);
        assert_eq!((bytes.len() - data.len()) % 8, 0, "data is 8-byte aligned");
        assert_eq!(header["__metadata__"]["preset"], "t");
        let w0 = &header["dense.0.weight"];
        assert_eq!(w0["dtype"], "F32");
        assert_eq!(w0["shape"], json!([3, 8]));
        let values = read(data, w0);
        let layer = &net.layers()[0];
        assert_eq!(values[8 + 2], layer.w[[2, 1]], "row-major [out, in]");
        let conv = &header["conv.0.weight"];
        assert_eq!(conv["shape"], json!([2, 1, 3, 3]));
        let cw = read(data, conv);
        let p = &net.conv().unwrap().params()[0];
        // PyTorch [o=1, ci=0, dy=2, dx=0] is ours [(2·3 + 0)·1 + 0, 1].
        assert_eq!(cw[9 + 6], p.w[[6, 1]]);
        assert_eq!(read(data, &header["dense.1.bias"]).len(), 5);
    }

    /// Issue 22 (`--save`): the metadata came out in a random order, so the
    /// same weights saved twice were two different files.
    #[test]
    fn the_same_network_saves_to_the_same_bytes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Network::new(4, &[3], 2, Activation::Relu, Init::Auto, &mut rng);
        let meta: BTreeMap<String, String> = (0..12).map(|i| (format!("key{i}"), format!("value {i}"))).collect();
        let first = encode(&net, &meta);
        for _ in 0..8 {
            assert!(encode(&net, &meta) == first, "one network, one file");
        }
        let (header, data) = decode(&first);
        assert_eq!((first.len() - data.len()) % 8, 0, "data stays 8-byte aligned");
        let keys: Vec<&String> = header["__metadata__"].as_object().unwrap().keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        let text = std::str::from_utf8(&first[8..first.len() - data.len()]).unwrap();
        let (a, b) = (text.find("key0").unwrap(), text.find("key9").unwrap());
        assert!(a < b, "written in order: {text}");
        // And it loads back.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        std::fs::write(&path, &first).unwrap();
        let mut again = net.clone();
        assert_eq!(load(&mut again, &path, "").unwrap().metadata, meta);
    }

    #[test]
    fn another_hidden_width_is_named_as_the_layer_width_not_the_input_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        save(&Network::new(4, &[8], 2, Activation::Relu, Init::Auto, &mut rng), &BTreeMap::new(), &path).unwrap();
        let mut narrower = Network::new(4, &[6], 2, Activation::Relu, Init::Auto, &mut rng);
        let err = load(&mut narrower, &path, "").unwrap_err().to_string();
        assert!(err.contains("layer 0 has 8 units in the file, 6 here: another `hidden`"), "{err}");
        assert!(!err.contains("input size"), "{err}");
        let mut other_data = Network::new(5, &[8], 2, Activation::Relu, Init::Auto, &mut rng);
        let err = load(&mut other_data, &path, "").unwrap_err().to_string();
        assert!(err.contains("the input size"), "{err}");
    }

    #[test]
    fn names_cannot_leave_the_checkpoint_folder() {
        assert_eq!(sanitize("mnist-mlp"), "mnist-mlp");
        assert_eq!(sanitize("../../../escaped"), "escaped");
        assert_eq!(sanitize("/etc/passwd"), "etc_passwd");
        assert_eq!(sanitize(".hidden"), "hidden");
        assert_eq!(sanitize("a b\nc\\d"), "a_b_c_d");
        assert_eq!(sanitize(".."), "run");
        assert_eq!(sanitize(""), "run");
        let dir = Path::new("checkpoints");
        for name in ["../../../escaped", "/abs/olute", "..", "a/../../b"] {
            let p = path_in(dir, name, 5);
            assert_eq!(p.parent(), Some(dir), "{name} -> {}", p.display());
        }

        // An unsanitized join is refused by `save` itself, nothing written.
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join("a/b/checkpoints");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Network::new(4, &[3], 2, Activation::Relu, Init::Auto, &mut rng);
        let escaping = inner.join("../../../escaped-step5.safetensors");
        let err = save(&net, &BTreeMap::new(), &escaping).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(std::fs::read_dir(root.path()).unwrap().next().is_none(), "nothing was created");
        save(&net, &BTreeMap::new(), &path_in(&inner, "../../../escaped", 5)).unwrap();
        assert!(inner.join("escaped-step5.safetensors").is_file());
    }

    #[test]
    fn devices_and_folders_are_neither_replaced_nor_read_forever() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Network::new(4, &[3], 2, Activation::Relu, Init::Auto, &mut rng);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a-folder");
        std::fs::create_dir_all(&dir).unwrap();
        let err = save(&net, &BTreeMap::new(), &dir).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(dir.is_dir(), "the folder is still a folder");
        if Path::new("/dev/null").exists() {
            let err = save(&net, &BTreeMap::new(), Path::new("/dev/null")).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        let mut fresh = net.clone();
        for device in ["/dev/zero", "/dev/urandom"] {
            if Path::new(device).exists() {
                let err = load(&mut fresh, Path::new(device), "").unwrap_err();
                assert!(err.to_string().contains("not a regular file"), "{err}");
            }
        }
    }

    #[test]
    fn save_replaces_the_file_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ck.safetensors");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Network::new(4, &[3], 2, Activation::Relu, Init::Auto, &mut rng);
        save(&net, &BTreeMap::new(), &path).unwrap();
        save(&net, &BTreeMap::new(), &path).unwrap();
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ck.safetensors")], "no temporary file left behind");
    }

    #[test]
    fn a_saved_network_loads_back_exactly_and_a_wrong_shape_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let specs = [ConvLayer::Conv { filters: 2, kernel: 3 }, ConvLayer::MaxPool(2)];
        let net = Network::with_conv((4, 4, 1), &specs, &[3], 5, Activation::Relu, Init::Auto, &mut rng).unwrap();
        let meta = BTreeMap::from([("preset".to_string(), "t".to_string())]);
        save(&net, &meta, &path).unwrap();
        let mut other = Network::with_conv((4, 4, 1), &specs, &[3], 5, Activation::Relu, Init::Auto, &mut rng).unwrap();
        let loaded = load(&mut other, &path, "None").unwrap();
        assert_eq!(loaded.metadata.get("preset").map(String::as_str), Some("t"));
        assert!(!loaded.fresh_output);
        assert_eq!(other.tensor_sizes(), net.tensor_sizes());
        for i in 0..net.tensor_count() {
            let (mut a, mut b) = (net.clone(), other.clone());
            assert_eq!(a.tensor_mut(i), b.tensor_mut(i), "tensor {i}");
        }
        // Other classes: the output layer stays fresh, the rest loads.
        let mut three = Network::with_conv((4, 4, 1), &specs, &[3], 3, Activation::Relu, Init::Auto, &mut rng).unwrap();
        assert!(load(&mut three, &path, "None").unwrap().fresh_output);
        // Another hidden width: refused, naming the tensor.
        let mut wide = Network::with_conv((4, 4, 1), &specs, &[4], 5, Activation::Relu, Init::Auto, &mut rng).unwrap();
        let e = load(&mut wide, &path, "None").unwrap_err().to_string();
        assert!(e.contains("dense.0.weight") && e.contains("[3, 8]"), "{e}");
        let mut deep = Network::new(16, &[3, 3], 5, Activation::Relu, Init::Auto, &mut rng);
        assert!(load(&mut deep, &path, "None").unwrap_err().to_string().contains("dense layer(s)"));
        // Trained on other classes: the output layer stays fresh even with the same shape.
        let tagged = BTreeMap::from([("class_list".to_string(), "Some([0, 1, 2, 3, 4])".to_string())]);
        save(&net, &tagged, &path).unwrap();
        let mut same = Network::with_conv((4, 4, 1), &specs, &[3], 5, Activation::Relu, Init::Auto, &mut rng).unwrap();
        assert!(load(&mut same, &path, "Some([5, 6, 7, 8, 9])").unwrap().fresh_output);
        assert!(!load(&mut same, &path, "Some([0, 1, 2, 3, 4])").unwrap().fresh_output);
    }
}
