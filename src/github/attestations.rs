//! GitHub's artifact attestation store: `POST /repos/{owner}/{repo}/attestations`.

use serde::Deserialize;

use super::{Client, GitHubError};

/// The documented answer (`201 {"id": 2}`).
#[derive(Debug, Deserialize)]
struct Created {
    id: u64,
}

impl Client {
    /// Stores a Sigstore bundle (the entry file, as JSON) as an attestation of the repository;
    /// returns the attestation's id. Never retried on 5xx (it may have been stored).
    pub fn create_attestation(&self, bundle: &serde_json::Value) -> Result<u64, GitHubError> {
        let created: Created = self.post(
            &format!("/repos/{}/attestations", self.repo()),
            &serde_json::json!({ "bundle": bundle }),
        )?;
        Ok(created.id)
    }
}
