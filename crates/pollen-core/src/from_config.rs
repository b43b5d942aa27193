//! Poll specs from a loaded instance JSON (`pollen-config`).

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{Error, ErrorKind, Result};
use crate::spec::{DateField, FieldPath, InstanceInfo, PollKey, PollSpec, RequestTemplate};
use crate::{EventType, Rfc3339Dates, SubscriptionFilter};

/// The hub every `sageone` resource belongs to, as notifications name it (`hubKey`).
const FINANCE_HUB: &str = "finance";

impl PollSpec {
    /// The spec of every resource in `config`'s `event.poller.configuration`, for the instance
    /// stored as `instance_id` and created at `created_at`.
    ///
    /// The first watermark is `event.poller.backfill_since` when set, otherwise `created_at`:
    /// records changed before the instance existed do not fire.
    pub fn from_config(
        instance_id: &str,
        config: &pollen_config::InstanceConfig,
        created_at: DateTime<Utc>,
    ) -> Result<Vec<PollSpec>> {
        let poller = &config.configuration.poller;
        let start = poller.backfill_since.unwrap_or(created_at);
        let mut info = InstanceInfo::new(config.element.as_str(), FINANCE_HUB);
        info.instance_name.clone_from(&config.name);
        info.tags.clone_from(&config.tags);
        let refresh_interval = delta(poller.refresh_interval, "event.poller.refresh_interval")?;
        let reconcile_interval = poller
            .reconcile_interval
            .map(|every| delta(every, "event.poller.reconcile_interval"))
            .transpose()?;
        poller
            .resources
            .values()
            .map(|resource| {
                let key = PollKey::new(instance_id, resource.name.as_str());
                let request = RequestTemplate::from(resource.url.template().clone());
                let mut spec = PollSpec::new(key, request, start);
                spec.instance = info.clone();
                spec.page_size = resource.page_size;
                spec.id_path = FieldPath::parse(resource.id_field.as_str())?;
                spec.updated = date_field(&resource.dates.updated)?;
                spec.created = date_field(&resource.dates.created)?;
                spec.created_check_tolerance =
                    delta(resource.created_check_tolerance, "createdCheckTolerance")?;
                spec.filter_by_updated_date = resource.filter_by_updated_date;
                spec.filter_by_current_date = resource.filter_by_current_date;
                spec.poll_delay = delta(resource.poll_delay, "pollDelay")?;
                spec.refresh_interval = refresh_interval;
                spec.reconcile_interval = reconcile_interval;
                spec.subscriptions = subscriptions(config, &resource.name)?;
                spec.checkpoints = config.configuration.notification.checkpoints;
                spec.validate()?;
                Ok(spec)
            })
            .collect()
    }
}

/// A configured date: the Java pattern (or `milliseconds`/`seconds`) with its zone, or
/// RFC 3339 when no format is set; `None` when no field is configured.
fn date_field(date: &pollen_config::DateField) -> Result<Option<DateField>> {
    let Some(field) = &date.field else {
        return Ok(None);
    };
    let path = FieldPath::parse(field.as_str())?;
    Ok(Some(match &date.format {
        Some(format) => {
            DateField::with_format(path, format.format().clone(), date.timezone.zone().clone())
        }
        None => DateField::new(path, Rfc3339Dates),
    }))
}

fn delta(duration: std::time::Duration, what: &str) -> Result<TimeDelta> {
    TimeDelta::from_std(duration).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("{what} is too long: {duration:?}"),
        )
    })
}

/// The filters of the instance's subscriptions that take events of `resource`.
fn subscriptions(
    config: &pollen_config::InstanceConfig,
    resource: &str,
) -> Result<Vec<SubscriptionFilter>> {
    config
        .configuration
        .notification
        .subscriptions
        .iter()
        .filter(|s| s.covers(resource))
        .map(|s| {
            let mut filter = SubscriptionFilter::new(s.name.as_str());
            if s.checkpoints {
                filter = filter.with_checkpoints();
            }
            if let Some(types) = &s.event_types {
                let types = types
                    .iter()
                    .filter_map(|t| match t.as_str() {
                        "CREATED" => Some(EventType::Created),
                        "UPDATED" => Some(EventType::Updated),
                        "DELETED" => Some(EventType::Deleted),
                        _ => None,
                    })
                    .collect();
                filter = filter.with_event_types(types);
            }
            match &s.filter {
                Some(clause) => filter.with_filter(clause.expr.clone()),
                None => Ok(filter),
            }
        })
        .collect()
}
