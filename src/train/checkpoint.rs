//! Checkpoints of the weights in the safetensors format, so PyTorch
//! (`safetensors.torch.load_file`) and numpy (`safetensors.numpy`) open them
//! as they are: an 8-byte little-endian header length, a JSON header naming
//! each tensor's dtype, shape and byte range, then the raw little-endian
//! data. Tensors use PyTorch's layouts: `dense.{l}.weight` is `[out, in]`
//! (as `nn.Linear`), `conv.{i}.weight` is `[c_out, c_in, k, k]` (as
//! `nn.Conv2d`). The file is written beside its destination and renamed
//! into place, so a killed process never leaves half a checkpoint. File
//! names come from the preset's name, reduced to `[A-Za-z0-9._-]`, so no
//! name can write outside the checkpoint folder.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::json;

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

/// The safetensors bytes of `net`'s weights, with `metadata` (string pairs).
pub fn encode(net: &Network, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let tensors = tensors(net);
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!(metadata));
    let mut offset = 0usize;
    for t in &tensors {
        let bytes = t.data.len() * 4;
        header.insert(
            t.name.clone(),
            json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut head = serde_json::to_vec(&header).expect("a JSON map serializes");
    // The format asks that the data start 8-byte aligned: pad the header with spaces.
    while !(8 + head.len()).is_multiple_of(8) {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for t in &tensors {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
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
}
