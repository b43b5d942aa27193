//! An instance's checkpoint chains as operators see them: where each chain stands and how many
//! events wait in its open window (`docs/events.md`, "Checkpoints").

use pollen_core::{CheckpointHead, StableId, WindowEvent};

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
        subscription: subscription_of(subscription),
        chain: stable_id(&chain)?,
        sequence: u64::try_from(sequence).unwrap_or_default(),
        checkpoint: stable_id(&checkpoint)?,
        to,
        open_events: u64::try_from(open).unwrap_or_default(),
    })
}

/// A chain head's row: (subscription or '', chain, sequence, checkpoint, to).
pub(crate) type HeadRow = (String, Vec<u8>, i64, Vec<u8>, String);

pub(crate) fn head_from(row: HeadRow) -> Result<CheckpointHead> {
    let (subscription, chain, sequence, id, to) = row;
    Ok(CheckpointHead {
        subscription: subscription_of(subscription),
        chain: stable_id(&chain)?,
        sequence: u64::try_from(sequence).unwrap_or_default(),
        id: stable_id(&id)?,
        to,
    })
}

pub(crate) fn window_event_from((subscription, event): (String, Vec<u8>)) -> Result<WindowEvent> {
    Ok(WindowEvent {
        subscription: subscription_of(subscription),
        event: stable_id(&event)?,
    })
}

/// How checkpoint tables name a subscription: `''` for the callback.
pub(crate) fn subscription_column(subscription: Option<&str>) -> &str {
    subscription.unwrap_or("")
}

fn subscription_of(column: String) -> Option<String> {
    (!column.is_empty()).then_some(column)
}
