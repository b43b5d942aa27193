//! An instance's checkpoint chains as operators see them: where each chain stands and how many
//! events wait in its open window (`docs/events.md`, "Checkpoints").

use pollen_core::StableId;

use crate::error::Result;
use crate::shared::stable_id;

/// One checkpoint chain of an instance: its latest checkpoint and its open window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointChain {
    /// The resource.
    pub resource: String,
    /// The subscription (`None`: the Open Connectors callback).
    pub subscription: Option<String>,
    /// The chain's id.
    pub chain: StableId,
    /// The latest checkpoint's sequence.
    pub sequence: u64,
    /// The latest checkpoint's id.
    pub checkpoint: StableId,
    /// The end of its window: the open window's `from`.
    pub to: String,
    /// Events written since, which the next checkpoint counts.
    pub open_events: u64,
}

/// A chain's row: (resource, subscription or '', chain, sequence, checkpoint, to, open events).
pub(crate) type ChainRow = (String, String, Vec<u8>, i64, Vec<u8>, String, i64);

pub(crate) fn chain_from(row: ChainRow) -> Result<CheckpointChain> {
    let (resource, subscription, chain, sequence, checkpoint, to, open) = row;
    Ok(CheckpointChain {
        resource,
        subscription: (!subscription.is_empty()).then_some(subscription),
        chain: stable_id(&chain)?,
        sequence: u64::try_from(sequence).unwrap_or_default(),
        checkpoint: stable_id(&checkpoint)?,
        to,
        open_events: u64::try_from(open).unwrap_or_default(),
    })
}
