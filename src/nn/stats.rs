//! Statistics of a network that the dashboard and the diagnosis read,
//! computed only when asked (the trainer asks a few times a second):
//! per layer, a histogram of weight values, the weight norm, a histogram of
//! per-unit incoming weight norms, the gradient norm and the update-to-weight
//! ratio of the last step; per hidden layer, over a probe batch in eval
//! mode, the fraction of dead units (ReLU family: output ≤ 0 on every probe
//! sample), the fraction of saturated activations (sigmoid/tanh: f' below
//! 10% of its maximum), and the mean and std of the activations.
//!
//! The convolutions get the same statistics from [`conv_layer_stats`], one
//! entry per convolution (`kind: "conv"`): its filters' weights (fan-in
//! `k·k·c_in`, one unit per filter), their norms, the gradient norm and
//! update ratio, and the activation statistics of its feature maps over the
//! same probe (after the max-pool when one follows: `f(max z) = max f(z)`,
//! so a filter dead there is dead everywhere).

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::Activation;
use super::network::{Grads, Network, Workspace};

/// Bins of every histogram.
pub const HIST_BINS: usize = 24;
/// An activation is saturated when its derivative is below this share of
/// the derivative's maximum (sigmoid: a < 0.026 or a > 0.974; tanh: |a| > 0.949).
pub const SATURATION: f32 = 0.1;

/// Counts of values in `HIST_BINS` equal bins over `[lo, hi]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<u32>,
}

impl Histogram {
    /// The histogram of the finite values of `values`.
    pub fn of(values: &[f32]) -> Histogram {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let mut counts = vec![0u32; HIST_BINS];
        if !lo.is_finite() {
            return Histogram { lo: 0.0, hi: 0.0, counts };
        }
        let width = (hi - lo).max(f32::MIN_POSITIVE);
        let scale = HIST_BINS as f32 / width;
        for &v in values.iter().filter(|v| v.is_finite()) {
            let bin = (((v - lo) * scale) as usize).min(HIST_BINS - 1);
            counts[bin] += 1;
        }
        Histogram { lo, hi, counts }
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
}

/// Which kind of layer a [`LayerStats`] describes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    #[default]
    Dense,
    /// A convolution: `fan_in` is `k·k·c_in`, `fan_out` its filters.
    Conv,
}

/// What one layer looks like now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Dense unless said otherwise (older logs have no such field).
    #[serde(default)]
    pub kind: LayerKind,
    pub fan_in: usize,
    pub fan_out: usize,
    pub weights: Histogram,
    pub weight_norm: f32,
    /// Norms of each unit's incoming weights (the columns of `W`).
    pub unit_norms: Histogram,
    pub grad_norm: f32,
    /// `‖ΔW‖ / ‖W‖` of the last step (0 when no earlier weights were given).
    pub update_ratio: f32,
    /// Hidden layers only: fraction of units dead on the whole probe (ReLU family).
    pub dead_fraction: Option<f32>,
    /// Hidden layers only: fraction of saturated activations (sigmoid, tanh).
    pub saturated_fraction: Option<f32>,
    /// Mean and standard deviation of the layer's outputs over the probe.
    pub act_mean: f32,
    pub act_std: f32,
    /// What the layer is called where it has a name of its own (a run
    /// trained elsewhere: its histogram's tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn norm(values: impl Iterator<Item = f32>) -> f32 {
    values.map(|v| (v as f64) * (v as f64)).sum::<f64>().sqrt() as f32
}

/// Mean and standard deviation of all entries.
fn mean_std(a: ArrayView2<f32>) -> (f32, f32) {
    let n = a.len().max(1) as f64;
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// Statistics of every layer. `grads` are the last step's gradients;
/// `before` the weights before that step (for the update ratio); `probe` a
/// batch run forward in eval mode in `ws` for the activation statistics.
pub fn layer_stats(
    net: &Network,
    grads: &Grads,
    before: Option<&[Array2<f32>]>,
    probe: ArrayView2<f32>,
    ws: &mut Workspace,
) -> Vec<LayerStats> {
    let n = probe.nrows().min(ws.capacity());
    net.forward(probe.slice(ndarray::s![..n, ..]), ws);
    let act = net.activation();
    let last = net.layers().len() - 1;
    net.layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let w = layer.w.as_slice().expect("contiguous");
            let unit_norms: Vec<f32> = layer.w.axis_iter(Axis(1)).map(|col| norm(col.iter().copied())).collect();
            let weight_norm = norm(w.iter().copied());
            let update_ratio = match before.and_then(|b| b.get(l)).filter(|b| b.dim() == layer.w.dim()) {
                Some(b) => norm(w.iter().zip(b.iter()).map(|(x, y)| x - y)) / weight_norm.max(f32::MIN_POSITIVE),
                None => 0.0,
            };
            let outputs = ws.activations(l, n);
            let (act_mean, act_std, dead_fraction, saturated_fraction) = activation_stats(outputs, act, l < last);
            LayerStats {
                kind: LayerKind::Dense,
                fan_in: layer.w.nrows(),
                fan_out: layer.w.ncols(),
                weights: Histogram::of(w),
                weight_norm,
                unit_norms: Histogram::of(&unit_norms),
                grad_norm: norm(grads.w[l].iter().copied()),
                update_ratio,
                dead_fraction,
                saturated_fraction,
                act_mean,
                act_std,
                name: None,
            }
        })
        .collect()
}

/// The statistics of every convolution of `net` (none without a front
/// end), from the probe activations a forward pass left in `ws` (call after
/// [`layer_stats`] on the same workspace: it runs that pass), the last
/// step's `grads` and, for the update ratio, the convolutions' weights
/// before it. Costs one pass over the weights and one over the probe's
/// feature maps per convolution.
pub fn conv_layer_stats(
    net: &Network,
    grads: &Grads,
    before: Option<&[Array2<f32>]>,
    ws: &Workspace,
    n: usize,
) -> Vec<LayerStats> {
    let (Some(stack), Some(cws)) = (net.conv(), ws.conv()) else { return Vec::new() };
    let n = n.min(ws.capacity());
    let act = net.activation();
    let maps = stack.conv_activations(cws, n);
    stack
        .params()
        .iter()
        .zip(maps)
        .enumerate()
        .map(|(l, (p, outputs))| {
            let w = p.w.as_slice().expect("contiguous");
            let weight_norm = norm(w.iter().copied());
            let unit_norms: Vec<f32> = p.w.axis_iter(Axis(1)).map(|col| norm(col.iter().copied())).collect();
            let update_ratio = match before.and_then(|b| b.get(l)).filter(|b| b.dim() == p.w.dim()) {
                Some(b) => norm(w.iter().zip(b.iter()).map(|(x, y)| x - y)) / weight_norm.max(f32::MIN_POSITIVE),
                None => 0.0,
            };
            let (act_mean, act_std, dead_fraction, saturated_fraction) = activation_stats(outputs, act, true);
            LayerStats {
                kind: LayerKind::Conv,
                fan_in: p.w.nrows(),
                fan_out: p.w.ncols(),
                weights: Histogram::of(w),
                weight_norm,
                unit_norms: Histogram::of(&unit_norms),
                grad_norm: grads.conv.get(l).map_or(0.0, |(gw, _)| norm(gw.iter().copied())),
                update_ratio,
                dead_fraction,
                saturated_fraction,
                act_mean,
                act_std,
                name: None,
            }
        })
        .collect()
}

/// Mean, std, dead fraction (ReLU family) and saturated fraction
/// (sigmoid, tanh) of `outputs` (`[samples or positions, units]`); the
/// fractions only for `hidden` layers.
fn activation_stats(outputs: ArrayView2<f32>, act: Activation, hidden: bool) -> (f32, f32, Option<f32>, Option<f32>) {
    let (mean, std) = mean_std(outputs);
    let max_df = match act {
        Activation::Sigmoid => Some(0.25),
        Activation::Tanh => Some(1.0),
        _ => None,
    };
    let dead =
        (hidden && act != Activation::Sigmoid && act != Activation::Tanh && act != Activation::Linear).then(|| {
            let dead = outputs.axis_iter(Axis(1)).filter(|unit| unit.iter().all(|&a| a <= 0.0)).count();
            dead as f32 / outputs.ncols().max(1) as f32
        });
    let saturated = max_df.filter(|_| hidden).map(|max| {
        let sat = outputs.iter().filter(|&&a| act.df_from_output(a) < SATURATION * max).count();
        sat as f32 / outputs.len().max(1) as f32
    });
    (mean, std, dead, saturated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::network::Dense;
    use ndarray::{Array1, array};

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let h = Histogram::of(&[0.0, 1.0, 0.5, 0.25, f32::NAN, 1.0]);
        assert_eq!(h.total(), 5);
        assert_eq!((h.lo, h.hi), (0.0, 1.0));
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[HIST_BINS - 1], 2);
        assert_eq!(Histogram::of(&[]).total(), 0);
        assert_eq!(Histogram::of(&[3.0, 3.0]).total(), 2);
    }

    #[test]
    fn dead_relu_units_and_saturated_sigmoids_are_counted() {
        // Unit 0 passes x, unit 1 always gets a large negative input: dead.
        let hidden = Dense { w: array![[1.0, -1.0]], b: array![0.0, -10.0] };
        let out = Dense { w: array![[1.0, 0.0], [0.0, 1.0]], b: Array1::zeros(2) };
        let net = Network::from_layers(vec![hidden.clone(), out.clone()], Activation::Relu);
        let probe = array![[0.5], [1.0], [2.0]];
        let grads = net.grads();
        let stats = layer_stats(&net, &grads, None, probe.view(), &mut net.workspace(3, 0));
        assert_eq!(stats[0].dead_fraction, Some(0.5));
        assert_eq!(stats[0].saturated_fraction, None);
        assert_eq!(stats[1].dead_fraction, None, "the output layer is not judged");
        // The same weights through sigmoid: unit 1 sits at σ(-10..-12), saturated.
        let net = Network::from_layers(vec![hidden, out], Activation::Sigmoid);
        let stats = layer_stats(&net, &grads, None, probe.view(), &mut net.workspace(3, 0));
        assert_eq!(stats[0].saturated_fraction, Some(0.5));
        assert_eq!(stats[0].dead_fraction, None);
    }

    #[test]
    fn norms_and_update_ratio() {
        let layer = Dense { w: array![[3.0, 0.0], [4.0, 0.0]], b: Array1::zeros(2) };
        let net = Network::from_layers(vec![layer], Activation::Relu);
        let before = vec![array![[3.0, 0.0], [4.0, 0.5]]];
        let mut grads = net.grads();
        grads.w[0].fill(1.0);
        let probe = array![[1.0, 1.0]];
        let s = &layer_stats(&net, &grads, Some(&before), probe.view(), &mut net.workspace(1, 0))[0];
        assert_eq!(s.weight_norm, 5.0);
        assert_eq!(s.grad_norm, 2.0);
        assert!((s.update_ratio - 0.1).abs() < 1e-6);
        assert_eq!(s.unit_norms.total(), 2);
        assert_eq!((s.unit_norms.lo, s.unit_norms.hi), (0.0, 5.0));
    }

    #[test]
    fn convolutions_get_filter_statistics() {
        use crate::nn::Init;
        use crate::nn::conv::ConvLayer;
        use rand::SeedableRng;
        use rand::rngs::StdRng;
        let specs = [
            ConvLayer::Conv { filters: 4, kernel: 3 },
            ConvLayer::MaxPool(2),
            ConvLayer::Conv { filters: 3, kernel: 3 },
        ];
        let mut rng = StdRng::seed_from_u64(2);
        let mut net = Network::with_conv((6, 6, 1), &specs, &[5], 3, Activation::Relu, Init::Auto, &mut rng).unwrap();
        // Filter 1 of the first convolution never fires on non-negative inputs.
        net.tensor_mut(0).chunks_mut(4).for_each(|taps| taps[1] = -1.0);
        net.tensor_mut(1)[1] = -0.5;
        let before = vec![net.conv().unwrap().params()[0].w.clone() * 0.5];
        let mut grads = net.grads();
        grads.conv[1].0.fill(1.0);
        let probe = Array2::from_shape_fn((4, 36), |(s, i)| ((s * 36 + i) % 7) as f32 / 7.0);
        let mut ws = net.workspace(4, 0);
        let dense = layer_stats(&net, &grads, None, probe.view(), &mut ws);
        assert!(dense.iter().all(|l| l.kind == LayerKind::Dense));
        let conv = conv_layer_stats(&net, &grads, Some(&before), &ws, 4);
        assert_eq!(conv.len(), 2);
        assert!(conv.iter().all(|l| l.kind == LayerKind::Conv));
        assert_eq!((conv[0].fan_in, conv[0].fan_out), (9, 4));
        assert_eq!((conv[1].fan_in, conv[1].fan_out), (36, 3));
        assert_eq!(conv[0].weights.total(), 36);
        assert_eq!(conv[0].unit_norms.total(), 4);
        assert_eq!(conv[0].dead_fraction, Some(0.25));
        assert_eq!(conv[0].grad_norm, 0.0);
        assert!((conv[1].grad_norm - 108f32.sqrt()).abs() < 1e-5, "a [36, 3] gradient of ones");
        // Before = half the weights: the update is half their norm, so the ratio is 0.5.
        assert!((conv[0].update_ratio - 0.5).abs() < 1e-6);
        assert_eq!(conv[1].update_ratio, 0.0, "no earlier weights given for it");
        assert!(conv[0].act_mean >= 0.0 && conv[0].act_std > 0.0);
        // The layer kind serializes as a lowercase word.
        let json = serde_json::to_string(&conv[0]).unwrap();
        assert!(json.contains("\"kind\":\"conv\""), "{json}");
    }
}
