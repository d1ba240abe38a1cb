//! Every remedy the checklist may offer, in one table keyed by finding id,
//! and the two rules each offer passes: a remedy never contradicts the
//! current settings ("switch to ReLU" for a ReLU net, "early stopping" when
//! it is on, "add L2" when L2 is already strong) and never makes its own
//! finding worse ("add L2" for a penalty that is too strong, a larger step
//! for a learning rate that is too high). `diagnose` takes its remedies
//! from here only, so the rules hold for every finding it can produce.

use super::{Action, FindingId, Remedy, Settings};
use crate::nn::{Activation, OptimizerKind};

/// L2 from here on is strong already: "add L2" would contradict it (the
/// presets' useful L2 is 1e-4..1e-3; the dashboard's `l` key stops at 1).
pub const L2_HIGH: f32 = 1e-2;
/// The dropout rate "more dropout" offers.
pub const DROPOUT_OFFER: f32 = 0.5;

/// The learning-rate findings' first remedy: measure the rate rather than
/// guess a factor.
pub const RANGE_TEST: &str = "measure it: range test";

const fn remedy(label: &'static str, action: Action) -> Remedy {
    Remedy { label, action }
}

fn is_relu_family(activation: Activation) -> bool {
    matches!(activation, Activation::Relu | Activation::LeakyRelu | Activation::Elu)
}

fn is_saturating(activation: Activation) -> bool {
    matches!(activation, Activation::Sigmoid | Activation::Tanh)
}

/// Whether applying `action` contradicts what `s` already is.
pub fn contradicts(action: Action, s: &Settings) -> bool {
    match action {
        Action::UseRelu => is_relu_family(s.activation),
        Action::UseSelu => s.activation == Activation::Selu,
        Action::UseAdam => matches!(s.optimizer, OptimizerKind::Adam { .. }),
        Action::EarlyStopping => s.early_stopping,
        Action::Dropout(p) => s.dropout >= p,
        Action::AddL2 => s.l2 >= L2_HIGH,
        Action::LessDropout => s.dropout <= 0.0,
        Action::LessL2 => s.l2 <= 0.0,
        Action::LessL1 => s.l1 <= 0.0,
        Action::Normalize => s.normalized,
        Action::Augment => s.augmenting || !s.images,
        Action::HalveLr
        | Action::DoubleLr
        | Action::ScaleLr(_)
        | Action::AddLayer
        | Action::Wider
        | Action::RangeTest => false,
        // Said to the user's code, where the settings are not known.
        Action::TrainLonger
        | Action::OverfitOneBatch
        | Action::ClipGradients
        | Action::CheckEvaluation
        | Action::CheckInputs
        | Action::AddValidation => false,
    }
}

/// Whether `action` makes the problem finding `id` names worse.
pub fn worsens(id: FindingId, action: Action) -> bool {
    let raises_lr = matches!(action, Action::DoubleLr) || matches!(action, Action::ScaleLr(f) if f > 1.0);
    let lowers_lr = matches!(action, Action::HalveLr) || matches!(action, Action::ScaleLr(f) if f < 1.0);
    let regularizes = matches!(action, Action::AddL2 | Action::Dropout(_));
    let grows = matches!(action, Action::AddLayer | Action::Wider);
    let relaxes = matches!(action, Action::LessDropout | Action::LessL2 | Action::LessL1);
    match id {
        FindingId::Diverged | FindingId::LrTooHigh | FindingId::DeadUnits | FindingId::Unstable => raises_lr,
        FindingId::LrTooLow => lowers_lr,
        FindingId::RegularizationTooStrong | FindingId::DropoutCost | FindingId::CapacityTooSmall => regularizes,
        // Stuck high or flat: more regularization or a longer run at the
        // same settings does not help; a mismatch is not cured by
        // regularizing or growing the net.
        FindingId::UnderfittingPlateau | FindingId::NotLearning => regularizes || matches!(action, Action::TrainLonger),
        FindingId::TrainEvalMismatch => regularizes || grows || matches!(action, Action::EarlyStopping),
        // A deeper net has further for the gradient to vanish.
        FindingId::VanishingGradients | FindingId::SaturatedUnits => matches!(action, Action::AddLayer),
        FindingId::OverfittingGap | FindingId::ValLossRising | FindingId::EarlyStopRecommended => {
            grows || relaxes || matches!(action, Action::TrainLonger)
        }
        FindingId::Healthy
        | FindingId::UnnormalizedInputs
        | FindingId::TrainLonger
        | FindingId::NoValidation
        | FindingId::LateStart => false,
    }
}

/// The remedies for finding `id` under settings `s`, best first: the
/// table's offers minus any that contradict `s` or worsen `id`.
pub fn remedies_for(id: FindingId, s: &Settings) -> Vec<Remedy> {
    let offers: Vec<Remedy> = match id {
        FindingId::Diverged => vec![remedy("halve the learning rate", Action::HalveLr)],
        // A measurement before a guessed factor (the range test on a copy).
        FindingId::LrTooHigh => vec![
            remedy(RANGE_TEST, Action::RangeTest),
            remedy("learning rate ÷10", Action::ScaleLr(0.1)),
            remedy("halve the learning rate", Action::HalveLr),
            remedy("switch to Adam at 1e-3", Action::UseAdam),
        ],
        FindingId::LrTooLow => vec![
            remedy(RANGE_TEST, Action::RangeTest),
            remedy("learning rate ×10", Action::ScaleLr(10.0)),
            remedy("double the learning rate", Action::DoubleLr),
            remedy("switch to Adam at 1e-3", Action::UseAdam),
        ],
        FindingId::VanishingGradients if is_saturating(s.activation) => {
            vec![remedy("switch to ReLU", Action::UseRelu), remedy("switch to SELU", Action::UseSelu)]
        }
        // A ReLU-family or SELU net whose gradient still vanishes: SELU
        // keeps activations normalized through depth; Adam rescales each
        // layer's step.
        FindingId::VanishingGradients => {
            vec![remedy("switch to SELU", Action::UseSelu), remedy("switch to Adam at 1e-3", Action::UseAdam)]
        }
        FindingId::SaturatedUnits => {
            vec![remedy("switch to ReLU", Action::UseRelu), remedy("switch to SELU", Action::UseSelu)]
        }
        FindingId::DeadUnits => {
            vec![remedy("halve the learning rate", Action::HalveLr), remedy("switch to SELU", Action::UseSelu)]
        }
        FindingId::UnnormalizedInputs => vec![remedy("normalize the inputs (restart)", Action::Normalize)],
        FindingId::CapacityTooSmall => vec![
            remedy("twice the hidden units (restart with the doubled widths)", Action::Wider),
            remedy("add a layer", Action::AddLayer),
        ],
        FindingId::RegularizationTooStrong => {
            vec![remedy("L2 ÷10", Action::LessL2), remedy("L1 ÷10", Action::LessL1)]
        }
        FindingId::DropoutCost => vec![remedy("less dropout", Action::LessDropout)],
        FindingId::OverfittingGap | FindingId::ValLossRising => vec![
            remedy("early stopping", Action::EarlyStopping),
            remedy("dropout 0.5", Action::Dropout(DROPOUT_OFFER)),
            remedy("add L2", Action::AddL2),
            remedy("more data: shifted copies (restart)", Action::Augment),
        ],
        FindingId::EarlyStopRecommended => vec![remedy("early stopping", Action::EarlyStopping)],
        FindingId::Healthy
        | FindingId::Unstable
        | FindingId::UnderfittingPlateau
        | FindingId::NotLearning
        | FindingId::TrainEvalMismatch
        | FindingId::TrainLonger
        | FindingId::NoValidation
        | FindingId::LateStart => vec![],
    };
    offers.into_iter().filter(|r| !contradicts(r.action, s) && !worsens(id, r.action)).collect()
}

/// The remedies for finding `id` of a run trained elsewhere, said as what
/// to change or try in the user's own code, best first. Nothing here
/// assumes a setting the log does not hold ("if" where it must), and the
/// same rule as `remedies_for` holds: none worsens its own finding.
pub fn in_code(id: FindingId) -> Vec<Remedy> {
    const LR_DOWN: Remedy = remedy("lower the learning rate 10× in your optimizer (lr=lr/10)", Action::ScaleLr(0.1));
    const CLIP: Remedy = remedy(
        "clip gradients before each step: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) \
         (Keras: clipnorm=1.0; Lightning/HF: gradient_clip_val / max_grad_norm)",
        Action::ClipGradients,
    );
    const ONE_BATCH: Remedy = remedy(
        "overfit one batch: train ~200 steps on a single fixed batch with regularization off; if the loss does not \
         go near 0 the model, loss or optimizer is at fault (try a higher or lower lr, Adam, ReLU), if it does the \
         model is too small for the data (more units or layers)",
        Action::OverfitOneBatch,
    );
    const INPUTS: Remedy = remedy(
        "check a batch: x.mean() and x.std() near 0 and 1 (normalize raw pixels or features), labels in range, \
         no NaN in the inputs",
        Action::CheckInputs,
    );
    const EARLY: Remedy = remedy(
        "stop at the best epoch: keras.callbacks.EarlyStopping(monitor='val_loss', patience=3, \
         restore_best_weights=True), Lightning EarlyStopping('val_loss'), HF load_best_model_at_end=True",
        Action::EarlyStopping,
    );
    let offers: Vec<Remedy> = match id {
        FindingId::Diverged => vec![
            LR_DOWN,
            CLIP,
            remedy(
                "find where NaN starts: torch.autograd.set_detect_anomaly(True); look for log(0), division by zero \
                 or an fp16 overflow in the loss",
                Action::CheckInputs,
            ),
        ],
        FindingId::LrTooHigh => vec![LR_DOWN, CLIP, INPUTS],
        FindingId::Unstable => {
            vec![remedy("halve the learning rate, or add a warm-up", Action::HalveLr), CLIP]
        }
        FindingId::LrTooLow => vec![
            remedy("raise the learning rate 10× (or run a learning-rate range test)", Action::ScaleLr(10.0)),
            remedy("switch to Adam: torch.optim.Adam(model.parameters(), lr=1e-3)", Action::UseAdam),
        ],
        FindingId::NotLearning => {
            vec![ONE_BATCH, INPUTS, remedy("if the hidden layers are sigmoid or tanh, switch to ReLU", Action::UseRelu)]
        }
        // Not "lower the regularization": a plateau can be a noisy-label run
        // that already memorizes; the one-batch test (regularization off) tells first.
        FindingId::UnderfittingPlateau => vec![ONE_BATCH],
        FindingId::RegularizationTooStrong => vec![remedy("lower weight decay 10×", Action::LessL2)],
        FindingId::ValLossRising | FindingId::OverfittingGap => vec![
            EARLY,
            remedy("add dropout (nn.Dropout(0.3) before the last layers)", Action::Dropout(DROPOUT_OFFER)),
            remedy("add weight decay (e.g. AdamW(..., weight_decay=1e-2))", Action::AddL2),
            remedy("more training data, or augmentation", Action::Augment),
        ],
        FindingId::EarlyStopRecommended => vec![EARLY],
        FindingId::TrainEvalMismatch => vec![
            remedy(
                "evaluate with model.eval() and train with model.train() (BatchNorm and dropout change between them)",
                Action::CheckEvaluation,
            ),
            remedy(
                "give both sets the same preprocessing and label mapping: compare a batch's mean/std and label \
                 counts from each loader",
                Action::CheckInputs,
            ),
        ],
        FindingId::VanishingGradients => vec![
            remedy(
                "use ReLU-family hidden activations with He init (nn.ReLU, nn.init.kaiming_normal_) instead of \
                 sigmoid/tanh",
                Action::UseRelu,
            ),
            remedy(
                "add normalization between layers (nn.BatchNorm1d / nn.LayerNorm) or residual connections, or use \
                 Adam, which rescales each layer's step",
                Action::UseAdam,
            ),
        ],
        FindingId::TrainLonger => vec![remedy("train more epochs: the curves still fall", Action::TrainLonger)],
        FindingId::NoValidation => {
            vec![remedy("hold out a validation set (10–20%) and log its loss every epoch", Action::AddValidation)]
        }
        FindingId::Healthy
        | FindingId::SaturatedUnits
        | FindingId::DeadUnits
        | FindingId::UnnormalizedInputs
        | FindingId::CapacityTooSmall
        | FindingId::DropoutCost
        | FindingId::LateStart => vec![],
    };
    offers.into_iter().filter(|r| !worsens(id, r.action)).collect()
}
