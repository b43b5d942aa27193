//! An instance's checkpoint chains for the API, the command line and the console: where each
//! (resource, subscription) chain stands and how many events wait for its next checkpoint
//! (`docs/events.md`, "Checkpoints").

use pollen_store::CheckpointChain;
use serde_json::{json, Value};

/// How checkpoints name the Open Connectors callback.
pub const CALLBACK: &str = pollen_config::CALLBACK_NAME;

/// One chain as the API lists it.
pub fn chain_json(chain: &CheckpointChain) -> Value {
    json!({
        "resource": chain.resource,
        "subscription": chain.subscription.as_deref().unwrap_or(CALLBACK),
        "chain": chain.chain.to_string(),
        "sequence": chain.sequence,
        "checkpoint": chain.checkpoint.to_string(),
        "to": chain.to,
        "openEvents": chain.open_events,
    })
}

/// `GET /instances/{id}/checkpoints`: `{"instanceId", "checkpoints": [...]}`.
pub fn chains_json(instance: i64, chains: &[CheckpointChain]) -> Value {
    json!({
        "instanceId": instance,
        "checkpoints": chains.iter().map(chain_json).collect::<Vec<_>>(),
    })
}
