//! Subscriptions besides the Open Connectors callback: which of a poll's changes each is sent.

use pollen_template::Expr;

use crate::change::{Change, EventType};
use crate::error::{Error, ErrorKind, Result};

/// What one subscription besides the callback is sent of a resource's changes: the events of
/// the listed types whose record matches the clause.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionFilter {
    /// The subscription's name: its lane and its notification ids.
    pub name: String,
    /// Only these types (`None`: all).
    pub event_types: Option<Vec<EventType>>,
    /// Only records matching this clause (`None`: all). A DELETED change passes unless its
    /// record shows it does not match: deletion records often carry little more than an id,
    /// and a subscription that was sent a record's creation must hear of its deletion.
    pub filter: Option<Expr>,
    /// `NOT filter`, to tell "does not match" from "cannot tell" for DELETED changes.
    negated: Option<Expr>,
    /// Whether it is sent checkpoints ([`PollSpec::checkpoints`](crate::PollSpec::checkpoints)
    /// for the callback).
    pub checkpoints: bool,
}

impl SubscriptionFilter {
    /// A filter named `name` letting every change through.
    pub fn new(name: impl Into<String>) -> Self {
        SubscriptionFilter {
            name: name.into(),
            event_types: None,
            filter: None,
            negated: None,
            checkpoints: false,
        }
    }

    /// Sends it checkpoints.
    pub fn with_checkpoints(mut self) -> Self {
        self.checkpoints = true;
        self
    }

    /// Only changes of `types`.
    pub fn with_event_types(mut self, types: Vec<EventType>) -> Self {
        self.event_types = Some(types);
        self
    }

    /// Only records matching `filter`; fails, naming the placeholder, when the clause holds an
    /// unexpanded `${...}` template (it would match nothing).
    pub fn with_filter(mut self, filter: Expr) -> Result<Self> {
        // Evaluating once on an empty record checks the clause as a whole (see `Expr::eval`).
        filter.eval(&serde_json::Value::Null).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("subscription {}: {e}", self.name),
            )
        })?;
        let span = filter.span();
        self.negated = Some(Expr::Not {
            arg: Box::new(filter.clone()),
            span,
        });
        self.filter = Some(filter);
        Ok(self)
    }

    /// Whether `change` goes to this subscription.
    pub fn accepts(&self, change: &Change) -> bool {
        if let Some(types) = &self.event_types {
            if !types.contains(&change.event_type) {
                return false;
            }
        }
        let (Some(filter), Some(negated)) = (&self.filter, &self.negated) else {
            return true;
        };
        // The clause was checked for placeholders when it was set: evaluation cannot fail.
        if change.event_type == EventType::Deleted {
            !negated.eval(&change.record).unwrap_or(false)
        } else {
            filter.eval(&change.record).unwrap_or(false)
        }
    }
}
