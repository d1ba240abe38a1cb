//! The neural-network engine: dense layers, activations, initialisation,
//! losses and optimizers over ndarray, with matrix products from the `gemm`
//! crate. No threads of its own (the products may use the rayon pool) and no
//! I/O: the trainer drives it.

pub mod activation;
pub mod conv;
pub mod governor;
pub mod init;
pub mod loss;
pub mod matmul;
pub mod network;
pub mod optim;
pub mod stats;
pub mod step;
pub mod team;

pub use activation::Activation;
pub use init::Init;
pub use network::{Fidelity, Grads, Network, Workspace};
pub use optim::{Optimizer, OptimizerKind};
pub use step::StepRunner;
