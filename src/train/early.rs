//! Early stopping: while it is on, the trainer keeps the weights of the best
//! validation loss; when that has not improved by `min_delta` for
//! `patience` epochs, training ends with the best weights restored.

use crossbeam_channel::Sender;

use super::{Event, Halt, Trainer};
use crate::nn::Network;

#[derive(Clone)]
pub(super) struct Best {
    pub net: Network,
    pub epoch: usize,
    pub val_loss: f32,
    /// The validation accuracy of those weights (the summary reports it
    /// beside their epoch).
    pub val_acc: f32,
    /// Epochs since the last improvement.
    pub stale: usize,
}

impl Trainer {
    /// Tracks the best validation loss while early stopping is on; true
    /// (after an `early_stop` event) when it has not improved by
    /// `min_delta` for `patience` epochs.
    pub(super) fn early_stopping_says_stop(
        &mut self,
        epoch: usize,
        (val_loss, val_acc): (f32, f32),
        events: &Sender<Event>,
    ) -> Result<bool, Halt> {
        let Some(es) = self.preset.early_stopping else { return Ok(false) };
        match &mut self.best {
            Some(b) if val_loss >= b.val_loss - es.min_delta => b.stale += 1,
            _ => {
                self.best = Some(Best { net: self.net.clone(), epoch, val_loss, val_acc, stale: 0 });
                return Ok(false);
            }
        }
        let Some(b) = self.best.as_ref() else { return Ok(false) };
        if b.stale < es.patience.max(1) {
            return Ok(false);
        }
        Self::emit(
            events,
            Event::EarlyStop {
                step: self.step,
                epoch,
                best_epoch: b.epoch,
                best_val_loss: b.val_loss,
                patience: es.patience,
            },
        )?;
        Ok(true)
    }

    /// The epoch whose weights the run keeps: early stopping's best, if any.
    pub(super) fn kept_epoch(&self) -> Option<(usize, f32)> {
        self.best.as_ref().map(|b| (b.epoch, b.val_acc))
    }

    /// With early stopping on, the run keeps its best weights.
    pub(super) fn restore_best(&mut self) {
        if let Some(best) = self.best.take() {
            self.net = best.net;
            self.refresh_buffers();
        }
    }
}
