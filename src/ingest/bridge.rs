//! What a loop logging through the Python bridge (`integrations/python`)
//! says about itself in its JSON-lines log, apart from metrics: the start
//! line (`{"bridge":"fitcheck_bridge","bridge_version":..,"framework":..,
//! "keys":"scale_lr,pause,save,stop","hparams":".."}`, every value a string)
//! names the framework and the commands the loop obeys; event lines
//! (`{"bridge_event":"paused"}`, `resumed`, `stopped`, `saved` with `path`,
//! `save_failed`, `lr` with `lr_factor`) say what the loop did on a key.
//! [`BridgeStatus`] is the sum of those lines, read in order.
//!
//! Logs written before the start line had `keys` (bridge 0.2.0) obey every
//! command: a missing `keys` means all of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The commands of the bridge's command file, as the start line's `keys` names them.
pub const COMMANDS: [&str; 4] = ["scale_lr", "pause", "save", "stop"];

/// Where the loop is, as it last reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopState {
    #[default]
    Running,
    Paused,
    Stopped,
}

/// What the bridge's own lines said so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BridgeStatus {
    /// `lightning`, `keras`, `hf`, or what an own loop passed to `start`.
    pub framework: Option<String>,
    pub version: Option<String>,
    /// The commands the loop obeys (`None`: it did not say, so all of them).
    pub keys: Option<Vec<String>>,
    pub state: LoopState,
    /// The loop's last report in words ("saved runs/x-checkpoints/step-6.ckpt").
    pub last: Option<String>,
}

impl BridgeStatus {
    /// Whether the loop obeys `command` (one of [`COMMANDS`]).
    pub fn obeys(&self, command: &str) -> bool {
        self.keys.as_ref().is_none_or(|k| k.iter().any(|c| c == command))
    }

    /// The framework as people write it.
    pub fn framework_name(&self) -> Option<String> {
        let f = self.framework.as_deref()?.trim();
        Some(
            match f {
                "lightning" => "Lightning",
                "keras" => "Keras",
                "hf" => "HF Trainer",
                other => other,
            }
            .to_string(),
        )
    }

    /// Takes in one JSON-lines object; true when it was a bridge line
    /// (which holds no metric).
    pub fn read(status: &mut Option<BridgeStatus>, obj: &Map<String, Value>) -> bool {
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        if obj.get("bridge").and_then(Value::as_str) == Some("fitcheck_bridge") {
            // A start line begins the run's story afresh.
            *status = Some(BridgeStatus {
                framework: text("framework").filter(|f| !f.trim().is_empty()),
                version: text("bridge_version"),
                keys: text("keys").map(|k| {
                    k.split(',').map(|c| c.trim().to_string()).filter(|c| COMMANDS.contains(&c.as_str())).collect()
                }),
                state: LoopState::Running,
                last: None,
            });
            return true;
        }
        let Some(event) = text("bridge_event") else { return false };
        // Event lines before any start line: a loop of its own that never
        // called `start`; what it reports still counts.
        let s = status.get_or_insert_with(BridgeStatus::default);
        match event.as_str() {
            "paused" => s.state = LoopState::Paused,
            "resumed" => s.state = LoopState::Running,
            "stopped" => s.state = LoopState::Stopped,
            _ => {}
        }
        s.last = Some(match (event.as_str(), text("path"), text("lr_factor"), text("error")) {
            ("saved", Some(path), ..) => format!("saved {path}"),
            ("lr", _, Some(f), _) => format!("learning rate ×{f} of the script's"),
            ("save_failed", .., Some(e)) => format!("save failed: {e}"),
            (other, ..) => other.replace('_', " "),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> (Option<BridgeStatus>, Vec<bool>) {
        let mut status = None;
        let read = lines
            .iter()
            .map(|l| {
                let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(l) else { panic!("{l}") };
                BridgeStatus::read(&mut status, &obj)
            })
            .collect();
        (status, read)
    }

    #[test]
    fn the_start_line_names_the_framework_and_its_keys_and_events_move_the_state() {
        let (s, read) = feed(&[
            r#"{"bridge":"fitcheck_bridge","bridge_version":"0.3.0","framework":"keras","keys":"pause,save, stop,bogus"}"#,
            r#"{"step":1,"train_loss":0.5}"#,
            r#"{"bridge_event":"paused"}"#,
            r#"{"bridge_event":"saved","path":"ck/step-6.keras"}"#,
        ]);
        assert_eq!(read, [true, false, true, true]);
        let s = s.unwrap();
        assert_eq!(s.framework_name().as_deref(), Some("Keras"));
        assert_eq!(s.keys.as_deref(), Some(&["pause".to_string(), "save".into(), "stop".into()][..]));
        assert!(!s.obeys("scale_lr") && s.obeys("pause"));
        assert_eq!((s.state, s.last.as_deref()), (LoopState::Paused, Some("saved ck/step-6.keras")));
        let (s, _) = feed(&[r#"{"bridge_event":"resumed"}"#, r#"{"bridge_event":"stopped"}"#]);
        assert_eq!(s.unwrap().state, LoopState::Stopped);
    }

    #[test]
    fn a_start_line_without_keys_obeys_every_command() {
        let (s, _) = feed(&[r#"{"bridge":"fitcheck_bridge","bridge_version":"0.2.0","framework":"lightning"}"#]);
        let s = s.unwrap();
        assert!(COMMANDS.iter().all(|c| s.obeys(c)));
        assert_eq!(s.framework_name().as_deref(), Some("Lightning"));
        assert_eq!(feed(&[r#"{"bridge":"other"}"#]).1, [false]);
    }
}
