//! The neural-network engine: dense layers, activations, initialisation,
//! losses and optimizers over ndarray, with matrix products from the `gemm`
//! crate. The trainer drives it; it reads no files. Its one pool of threads
//! is the step's team (`team`: pinned workers, which read `/proc` to see
//! whether the host gives them their cores) and the `governor` that decides
//! per step between the team and one thread; the products may use rayon.

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
