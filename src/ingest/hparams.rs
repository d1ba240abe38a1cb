//! Hyperparameters the writer recorded, as text: Lightning's `hparams.yaml`
//! (read here, with a small parser for the YAML subset Lightning's
//! `save_hyperparameters()` writes) and the value formatting shared with
//! TensorBoard's hparams plugin (decoded in [`super::proto`]) and the
//! Trainer's state ([`super::hf`]).
//!
//! The YAML subset: `key: value` lines, nested maps by indentation (keys
//! joined with `/`: `optim/lr`), block sequences of scalars (`- a`, also
//! under a `!!python/tuple` tag) kept as `[a, b]`, flow values (`[1, 2]`,
//! `{}`) kept as written, quoted scalars unquoted, `null` / `~` left out.
//! Anything else (block scalars `|` `>`, maps inside sequences, anchors,
//! tabs) is skipped with a warning naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lightning's file name.
pub const YAML_FILE: &str = "hparams.yaml";

/// A number as text: whole numbers without a fraction (`32`, not `32.0`:
/// TensorBoard stores every number as a double), others as Rust writes them.
pub fn number_text(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") }
}

/// Where Lightning puts `hparams.yaml` for a run read from `path`: beside
/// `metrics.csv` (a CSV file), or in the run folder of the event files.
pub fn yaml_beside(path: &Path) -> Option<PathBuf> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let f = dir.join(YAML_FILE);
    f.is_file().then_some(f)
}

/// Parses the YAML subset Lightning writes. Lines it cannot read are
/// warnings (`file:line: ...`) and skipped.
pub fn parse_yaml(text: &str, file: &Path, warnings: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut seqs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // (indent, full key) of the maps and sequences open above this line.
    let mut stack: Vec<(usize, String)> = Vec::new();
    // Lines deeper than this belong to something skipped.
    let mut skip_deeper: Option<usize> = None;
    let mut warn = |n: usize, why: &str| warnings.push(format!("{}:{n}: {why}; skipped", file.display()));
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') || content == "---" || content == "..." {
            continue;
        }
        let indent = line.len() - content.len();
        if let Some(d) = skip_deeper {
            if indent > d {
                continue;
            }
            skip_deeper = None;
        }
        if content.starts_with('\t') {
            warn(n, "a tab in the indentation");
            skip_deeper = Some(indent);
            continue;
        }
        if let Some(item) = content.strip_prefix("- ").or((content == "-").then_some("")) {
            while stack.last().is_some_and(|(d, _)| *d > indent) {
                stack.pop();
            }
            let Some((_, key)) = stack.last() else {
                warn(n, "a list item outside any key");
                skip_deeper = Some(indent);
                continue;
            };
            match scalar(item) {
                Some(Scalar::Text(v)) if !item.contains(": ") && !item.ends_with(':') => {
                    seqs.entry(key.clone()).or_default().push(v);
                }
                Some(Scalar::Null) => seqs.entry(key.clone()).or_default().push("null".into()),
                _ => {
                    warn(n, "a list item that is not a plain value");
                    skip_deeper = Some(indent);
                }
            }
            continue;
        }
        let Some((key, value)) = split_key(content) else {
            warn(n, "not a `key: value` line");
            skip_deeper = Some(indent);
            continue;
        };
        while stack.last().is_some_and(|(d, _)| *d >= indent) {
            stack.pop();
        }
        let full = match stack.last() {
            Some((_, parent)) => format!("{parent}/{key}"),
            None => key,
        };
        // A tag (`!!python/tuple`) says how Python builds the value; the
        // value itself follows.
        let value = match value.strip_prefix("!!") {
            Some(rest) => rest.split_once(' ').map_or("", |(_, v)| v.trim()),
            None => value,
        };
        if value.is_empty() {
            stack.push((indent, full));
            continue;
        }
        match scalar(value) {
            Some(Scalar::Text(v)) => {
                out.insert(full, v);
            }
            Some(Scalar::Null) => {}
            None => {
                warn(n, &format!("the value of {full:?} is not a plain value"));
                skip_deeper = Some(indent);
            }
        }
    }
    for (k, items) in seqs {
        out.insert(k, format!("[{}]", items.join(", ")));
    }
    out
}

enum Scalar {
    Text(String),
    Null,
}

/// A plain, quoted or flow (`[..]`, `{..}`, kept as written) value.
fn scalar(v: &str) -> Option<Scalar> {
    let v = v.trim();
    if v.is_empty() || v == "null" || v == "~" || v == "Null" || v == "NULL" {
        return Some(Scalar::Null);
    }
    if v.starts_with('|') || v.starts_with('>') || v.starts_with('&') || v.starts_with('*') || v.starts_with('!') {
        return None;
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(Scalar::Text(inner.replace("''", "'")));
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Some(Scalar::Text(inner.replace("\\\"", "\"").replace("\\\\", "\\")));
    }
    if v.starts_with('\'') || v.starts_with('"') {
        return None;
    }
    Some(Scalar::Text(v.to_string()))
}

/// `key: value` or `key:` (a map or list follows), the key unquoted.
fn split_key(content: &str) -> Option<(String, &str)> {
    let (key, value) = if let Some(k) = content.strip_suffix(':') {
        (k, "")
    } else {
        let (k, v) = content.split_once(": ")?;
        (k, v.trim())
    };
    let key = key.trim();
    let key = key
        .strip_prefix('\'')
        .and_then(|k| k.strip_suffix('\''))
        .or_else(|| key.strip_prefix('"').and_then(|k| k.strip_suffix('"')))
        .unwrap_or(key);
    if key.is_empty() || key.starts_with('{') || key.starts_with('[') || key.starts_with('?') {
        return None;
    }
    Some((key.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightnings_yaml_flattens_to_slash_keys() {
        let text = "data:\n  source: blobs\n  train: 512\nhidden: 32\nlr: 0.05\nname: 'my run'\nnone: null\n\
                    schedule:\n  name: cosine\n  inner:\n    warmup: 2\ntags: !!python/tuple\n- a\n- b\nsizes:\n  - 1\n  - 2\n\
                    empty: {}\nflow: [1, 2]\n";
        let mut w = Vec::new();
        let hp = parse_yaml(text, Path::new("h.yaml"), &mut w);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<(&str, &str)> = hp.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("data/source", "blobs"),
                ("data/train", "512"),
                ("empty", "{}"),
                ("flow", "[1, 2]"),
                ("hidden", "32"),
                ("lr", "0.05"),
                ("name", "my run"),
                ("schedule/inner/warmup", "2"),
                ("schedule/name", "cosine"),
                ("sizes", "[1, 2]"),
                ("tags", "[a, b]"),
            ]
        );
    }

    #[test]
    fn what_the_subset_cannot_read_is_a_warning_with_its_line() {
        let text = "a: 1\nnote: |\n  many\n  lines\nb: 2\nlist:\n- name: x\n  v: 1\nc: 3\njust words\nd: 4\n";
        let mut w = Vec::new();
        let hp = parse_yaml(text, Path::new("h.yaml"), &mut w);
        let keys: Vec<&str> = hp.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["a", "b", "c", "d"]);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("h.yaml:2:"), "{}", w[0]);
        assert!(w[1].starts_with("h.yaml:7:"), "{}", w[1]);
        assert!(w[2].starts_with("h.yaml:10:"), "{}", w[2]);
    }

    #[test]
    fn numbers_read_as_written() {
        assert_eq!(number_text(32.0), "32");
        assert_eq!(number_text(0.05), "0.05");
        assert_eq!(number_text(f64::NAN), "NaN");
    }
}
