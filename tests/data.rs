//! Datasets on disk and generated: the bundled MNIST byte for byte, broken
//! IDX folders with their own clear errors, and every generated set
//! training through `fitcheck run <preset> --set dataset=...`.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use fitcheck::data::{DataError, DataShape, DatasetSpec, Features, load_idx_dir};
use sha2::{Digest, Sha256};

#[test]
fn bundled_mnist_decompresses_to_the_published_sha256() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist");
    for (name, want) in [
        ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ] {
        let file = std::fs::File::open(dir.join(format!("{name}.gz"))).unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).unwrap();
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want, "{name}");
    }
}

fn header(dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| v.extend_from_slice(&d.to_be_bytes()));
    v
}

/// A well-formed 4-file IDX folder of `n` 2x2 images, then `edit` breaks it.
fn folder(n: u32, edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (prefix, count) in [("train", n), ("t10k", n)] {
        let mut images = header(&[count, 2, 2]);
        images.extend((0..count * 4).map(|v| v as u8));
        std::fs::write(dir.path().join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        let mut labels = header(&[count]);
        labels.extend((0..count).map(|v| (v % 10) as u8));
        std::fs::write(dir.path().join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
    edit(dir.path());
    dir
}

#[test]
fn broken_idx_folders_each_give_their_own_error() {
    let ok = folder(5, |_| {});
    assert_eq!(load_idx_dir(ok.path(), "ok").unwrap().train.len(), 5);

    let truncated = folder(5, |d| {
        let p = d.join("train-images-idx3-ubyte");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    });
    let err = load_idx_dir(truncated.path(), "t").unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected: 20, found: 17, .. }), "{err}");
    assert!(err.to_string().contains("train-images-idx3-ubyte: truncated"), "{err}");

    let magic = folder(5, |d| std::fs::write(d.join("t10k-labels-idx1-ubyte"), b"PK\x03\x04 not idx").unwrap());
    let err = load_idx_dir(magic.path(), "m").unwrap_err();
    assert!(matches!(err, DataError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("t10k-labels-idx1-ubyte: not an IDX file"), "{err}");

    let mismatch = folder(5, |d| {
        let mut labels = header(&[4]);
        labels.extend([1, 2, 3, 4]);
        std::fs::write(d.join("train-labels-idx1-ubyte"), labels).unwrap();
    });
    let err = load_idx_dir(mismatch.path(), "c").unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { image_count: 5, label_count: 4, .. }), "{err}");

    let range = folder(5, |d| {
        let mut labels = header(&[5]);
        labels.extend([1, 2, 13, 4, 5]);
        std::fs::write(d.join("train-labels-idx1-ubyte"), labels).unwrap();
    });
    let err = load_idx_dir(range.path(), "r").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: label 13 at index 2 is outside 0..10", range.path().join("train-labels-idx1-ubyte").display())
    );

    let empty = tempfile::tempdir().unwrap();
    let err = load_idx_dir(empty.path(), "e").unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    let err = load_idx_dir(&empty.path().join("nope"), "e").unwrap_err();
    assert!(matches!(err, DataError::NoFolder { .. }), "{err}");

    let zero = folder(0, |_| {});
    assert!(matches!(load_idx_dir(zero.path(), "z").unwrap_err(), DataError::Empty { .. }));
}

fn run_acc(preset: &str, sets: &[&str]) -> f64 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fitcheck"));
    // A seeded run: its trajectory does not depend on timing or threads.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["run", preset]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{sets:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    summary["best_val_acc"].as_f64().unwrap()
}

#[test]
fn every_generated_set_trains_through_the_command_line() {
    for (dataset, want) in [
        ("Spirals(arms: 3, noise: 0.05)", 0.85),
        ("Moons(noise: 0.1)", 0.97),
        ("Circles(noise: 0.05)", 0.97),
        ("Xor", 0.95),
        ("Blobs(centers: 4, noise: 0.2)", 0.97),
    ] {
        let set = format!("dataset={dataset}");
        let acc = run_acc("spirals", &[&set, "epochs=30"]);
        assert!(acc >= want, "{dataset}: {acc} < {want}");
    }
    // FizzBuzz's 10 binary digits go through the same path (its lesson,
    // a deep net, has presets of its own).
    let acc = run_acc("spirals", &["dataset=FizzBuzz", "val_size=100", "epochs=5"]);
    assert!(acc > 0.3, "{acc}");
}

#[test]
fn pixel_normalization_is_a_preset_field() {
    let quick = ["epochs=1", "train_size=5000", "val_size=1000", "hidden=[64]"];
    let with = |n: &str| {
        let mut s: Vec<&str> = quick.to_vec();
        s.push(n);
        run_acc("mnist-mlp", &s)
    };
    let (raw, scaled, standard) = (with("normalize=None"), with("normalize=Scale255"), with("normalize=Standardize"));
    assert!(raw < 0.5, "raw 0..255 pixels: {raw}");
    assert!(scaled > 0.85 && standard > 0.85, "scaled {scaled}, standardized {standard}");
}

#[test]
fn shift_augmentation_trains_and_needs_images() {
    let acc = run_acc(
        "mnist-mlp",
        &["epochs=3", "train_size=3000", "val_size=1000", "hidden=[64]", "augment=Shift(pixels: 2)"],
    );
    assert!(acc > 0.8, "{acc}");
    let out = Command::new(env!("CARGO_BIN_EXE_fitcheck"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "spirals", "--set", "augment=Shift(pixels: 1)"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("field `augment`: shifting needs images"));
}

#[test]
fn zero_pixel_images_are_refused_not_a_panic_later() {
    for dims in [[5u32, 0, 28], [5, 28, 0]] {
        let dir = folder(5, |d| {
            std::fs::write(d.join("train-images-idx3-ubyte"), header(&dims)).unwrap();
        });
        let err = load_idx_dir(dir.path(), "z").unwrap_err();
        assert!(matches!(err, DataError::Shape { .. }), "{err}");
        assert!(err.to_string().contains("expected images of at least 1x1 pixels"), "{err}");
        let spec = DatasetSpec::Idx { dir: dir.path().display().to_string() };
        let err = spec.shape(Path::new("unused")).unwrap_err();
        assert!(err.to_string().contains("expected images of at least 1x1 pixels"), "{err}");
    }
}

#[test]
fn the_shape_read_from_headers_is_the_loaded_shape() {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist");
    let mut specs = vec![
        DatasetSpec::Mnist,
        DatasetSpec::FizzBuzz,
        DatasetSpec::Spirals { arms: 5, noise: 0.1 },
        DatasetSpec::Blobs { centers: 255, noise: 0.1 },
        DatasetSpec::Moons { noise: 0.1 },
        DatasetSpec::Circles { noise: 0.1 },
        DatasetSpec::Xor,
    ];
    let small = folder(7, |_| {});
    specs.push(DatasetSpec::Idx { dir: small.path().display().to_string() });
    for spec in specs {
        let shape = spec.shape(&mnist).unwrap();
        let data = spec.load(&mnist, 1).unwrap();
        let bytes = match data.train.features {
            Features::U8(_) => 1,
            Features::F32(_) => 4,
        };
        let loaded = DataShape {
            train: data.train.len(),
            test: data.test.len(),
            dim: data.train.dim,
            classes: data.train.classes,
            image: data.train.image,
            bytes_per_value: bytes,
        };
        assert_eq!(shape, loaded, "{spec:?}");
        assert!(data.train.labels.iter().all(|&l| (l as usize) < data.train.classes), "{spec:?}");
    }
    // A raw file's length is checked from the header alone; the same error as the full read.
    let truncated = folder(5, |d| {
        let p = d.join("train-images-idx3-ubyte");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    });
    let spec = DatasetSpec::Idx { dir: truncated.path().display().to_string() };
    let err = spec.shape(&mnist).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected: 20, found: 17, .. }), "{err}");
}

#[test]
fn generated_class_counts_outside_2_to_255_are_errors() {
    let mnist = Path::new("unused");
    for spec in [
        DatasetSpec::Spirals { arms: 0, noise: 0.1 },
        DatasetSpec::Spirals { arms: 1, noise: 0.1 },
        DatasetSpec::Blobs { centers: 256, noise: 0.1 },
        DatasetSpec::Blobs { centers: 100_000, noise: 0.1 },
    ] {
        assert!(matches!(spec.load(mnist, 1), Err(DataError::Spec(_))), "{spec:?}");
        assert!(matches!(spec.shape(mnist), Err(DataError::Spec(_))), "{spec:?}");
    }
}
