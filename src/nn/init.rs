//! Weight initialisation: He, Glorot and LeCun (all normal), and `Auto`,
//! which picks the one that keeps activations at unit scale for the layer's
//! activation: He for the ReLU family, LeCun for SELU, Glorot otherwise.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::Activation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    Auto,
    He,
    Glorot,
    LeCun,
}

impl Init {
    /// The concrete scheme `Auto` stands for with `act`.
    pub fn resolve(self, act: Activation) -> Init {
        match self {
            Init::Auto if act.is_relu_family() => Init::He,
            Init::Auto if act == Activation::Selu => Init::LeCun,
            Init::Auto => Init::Glorot,
            other => other,
        }
    }

    /// Standard deviation of the normal distribution for a `fan_in x fan_out` layer.
    pub fn std(self, act: Activation, fan_in: usize, fan_out: usize) -> f32 {
        let (i, o) = (fan_in as f32, fan_out as f32);
        match self.resolve(act) {
            Init::He => (2.0 / i).sqrt(),
            Init::LeCun => (1.0 / i).sqrt(),
            Init::Glorot | Init::Auto => (2.0 / (i + o)).sqrt(),
        }
    }

    /// A fresh `fan_in x fan_out` weight matrix. A matrix with no entries
    /// (a fan of 0, whose standard deviation is infinite) is simply empty:
    /// never a panic, whatever shape reaches it.
    pub fn weights(self, act: Activation, fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> Array2<f32> {
        let std = self.std(act, fan_in, fan_out);
        match Normal::new(0.0f32, std) {
            Ok(normal) if fan_in > 0 && fan_out > 0 => {
                Array2::from_shape_simple_fn((fan_in, fan_out), || normal.sample(rng))
            }
            // Only an empty matrix has a fan of 0; the std is finite otherwise.
            _ => Array2::zeros((fan_in, fan_out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn auto_picks_he_for_relu_lecun_for_selu_glorot_otherwise() {
        assert_eq!(Init::Auto.resolve(Activation::Relu), Init::He);
        assert_eq!(Init::Auto.resolve(Activation::Selu), Init::LeCun);
        assert_eq!(Init::Auto.resolve(Activation::Sigmoid), Init::Glorot);
        assert_eq!(Init::He.resolve(Activation::Sigmoid), Init::He);
    }

    #[test]
    fn a_fan_of_zero_gives_an_empty_matrix_not_a_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for init in [Init::Auto, Init::He, Init::Glorot, Init::LeCun] {
            assert_eq!(init.weights(Activation::Relu, 0, 5, &mut rng).dim(), (0, 5));
            assert_eq!(init.weights(Activation::Tanh, 0, 0, &mut rng).dim(), (0, 0));
            assert_eq!(init.weights(Activation::Selu, 3, 0, &mut rng).dim(), (3, 0));
        }
    }

    #[test]
    fn he_weights_have_the_requested_spread() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let w = Init::He.weights(Activation::Relu, 400, 300, &mut rng);
        let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
        assert!((var - 2.0 / 400.0).abs() < 0.05 * 2.0 / 400.0, "variance {var}");
    }
}
