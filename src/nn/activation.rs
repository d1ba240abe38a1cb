//! Activation functions of the hidden layers, applied in place, and their
//! derivatives written in terms of the activation's *output* `a = f(z)`, so
//! the backward pass needs no copy of the pre-activations:
//!
//! | name | f(z) | f'(z) from a |
//! | --- | --- | --- |
//! | Sigmoid | 1 / (1 + e^-z) | a (1 - a) |
//! | Tanh | tanh z | 1 - a² |
//! | Relu | max(0, z) | 1 if a > 0 else 0 |
//! | LeakyRelu | z if z > 0 else 0.01 z | 1 if a > 0 else 0.01 |
//! | Elu | z if z > 0 else e^z - 1 | 1 if a > 0 else a + 1 |
//! | Selu | λ z if z > 0 else λ α (e^z - 1) | λ if a > 0 else a + λ α |
//! | Linear | z | 1 |

use serde::{Deserialize, Serialize};

/// SELU's fixed point constants (Klambauer et al., 2017).
pub const SELU_LAMBDA: f32 = 1.050_701;
pub const SELU_ALPHA: f32 = 1.673_263_2;
/// Slope of LeakyReLU for negative inputs.
pub const LEAKY_SLOPE: f32 = 0.01;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Elu,
    Selu,
    Linear,
}

impl Activation {
    pub const ALL: [Activation; 7] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Selu,
        Activation::Linear,
    ];

    /// The next activation in `ALL`, wrapping: what the `a` key cycles through.
    pub fn next(self) -> Activation {
        let i = Self::ALL.iter().position(|&a| a == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Short display name ("ReLU", "SELU", ...).
    pub fn label(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "ReLU",
            Activation::LeakyRelu => "LeakyReLU",
            Activation::Elu => "ELU",
            Activation::Selu => "SELU",
            Activation::Linear => "linear",
        }
    }

    /// `f(z)` of one value.
    #[inline]
    pub fn f(self, z: f32) -> f32 {
        match self {
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu => {
                if z > 0.0 {
                    z
                } else {
                    LEAKY_SLOPE * z
                }
            }
            Activation::Elu => {
                if z > 0.0 {
                    z
                } else {
                    z.exp_m1()
                }
            }
            Activation::Selu => {
                if z > 0.0 {
                    SELU_LAMBDA * z
                } else {
                    SELU_LAMBDA * SELU_ALPHA * z.exp_m1()
                }
            }
            Activation::Linear => z,
        }
    }

    /// `f'(z)` expressed through the output `a = f(z)`.
    #[inline]
    pub fn df_from_output(self, a: f32) -> f32 {
        match self {
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if a > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            Activation::Elu => {
                if a > 0.0 {
                    1.0
                } else {
                    a + 1.0
                }
            }
            Activation::Selu => {
                if a > 0.0 {
                    SELU_LAMBDA
                } else {
                    a + SELU_LAMBDA * SELU_ALPHA
                }
            }
            Activation::Linear => 1.0,
        }
    }

    /// Whether the ReLU family's initialisation (He) suits this activation.
    pub fn is_relu_family(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu | Activation::Elu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of `f` against the closed-form derivative, at
    /// points away from the kinks (0 for the piecewise ones).
    #[test]
    fn gradcheck_every_activation_matches_finite_differences() {
        let eps = 1e-3f64;
        for act in Activation::ALL {
            for &z in &[-3.0f32, -1.2, -0.4, 0.3, 0.9, 2.5] {
                let f = |z: f64| act.f(z as f32) as f64;
                let numerical = (f(z as f64 + eps) - f(z as f64 - eps)) / (2.0 * eps);
                let theoretical = act.df_from_output(act.f(z)) as f64;
                assert!(
                    (numerical - theoretical).abs() < 2e-3 * (1.0 + numerical.abs()),
                    "{act:?} at {z}: numerical={numerical}, theoretical={theoretical}"
                );
            }
        }
    }

    #[test]
    fn next_cycles_through_all_activations() {
        let mut a = Activation::Relu;
        for _ in 0..Activation::ALL.len() {
            a = a.next();
        }
        assert_eq!(a, Activation::Relu);
    }
}
