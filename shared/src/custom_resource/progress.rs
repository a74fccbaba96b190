//! How far a custom resource request got: shared with the watchdog, so that a timeout or a
//! panic can say where the request stopped and which repository it may have created.

use std::sync::{Arc, Mutex};

/// How far a request got, shared with the watchdog so a timeout or panic can say where it
/// stopped, and which repository (if any) this request may have created.
#[derive(Debug, Clone, Default)]
pub struct RequestProgress(Arc<Mutex<RequestProgressState>>);

#[derive(Debug, Clone, Default)]
struct RequestProgressState {
    stage: String,
    maybe_created: Option<String>,
}

impl RequestProgress {
    pub fn new(stage: impl Into<String>) -> Self {
        let p = RequestProgress::default();
        p.stage(stage);
        p
    }

    pub fn stage(&self, stage: impl Into<String>) {
        if let Ok(mut s) = self.0.lock() {
            s.stage = stage.into();
        }
    }

    pub fn current_stage(&self) -> String {
        self.0.lock().map(|s| s.stage.clone()).unwrap_or_default()
    }

    pub(super) fn creating(&self, name: Option<&str>) {
        if let Ok(mut s) = self.0.lock() {
            s.maybe_created = name.map(str::to_string);
        }
    }

    /// The repository this request asked ECR to create, if it got that far: from the moment
    /// CreateRepository is sent, the repository may exist even if no answer came back.
    pub fn created_repository(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.maybe_created.clone())
    }
}
