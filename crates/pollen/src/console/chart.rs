//! The last hour as two inline SVG bar charts: events per minute by type, and delivery
//! latency (from the notification's creation to its delivery) per minute. Drawn on the
//! server: no chart library, no script.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::{OutboxEntry, OutboxStatus};

use super::html::esc;

/// Minutes shown.
const MINUTES: usize = 60;
/// The event types, in stacking order, with their CSS class.
const TYPES: [(&str, &str); 3] = [
    ("CREATED", "created"),
    ("UPDATED", "updated"),
    ("DELETED", "deleted"),
];

/// Per-minute tallies of the last hour.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hour {
    /// The start of the first minute.
    pub(crate) start: DateTime<Utc>,
    /// Events per minute and type (index of [`TYPES`]; other types count as UPDATED).
    pub(crate) events: Vec<[u64; 3]>,
    /// Delivery latencies (milliseconds) of the notifications delivered in each minute.
    pub(crate) latency: Vec<Vec<u64>>,
}

/// Which minute of the hour starting at `start` holds `at`.
fn minute(start: DateTime<Utc>, at: DateTime<Utc>) -> Option<usize> {
    let offset = (at - start).num_seconds();
    (0..MINUTES as i64 * 60)
        .contains(&offset)
        .then_some((offset / 60) as usize)
}

/// Tallies `entries` (any order) into the hour ending with the minute of `now`.
pub(crate) fn tally(entries: &[OutboxEntry], now: DateTime<Utc>) -> Hour {
    let this_minute = now
        - TimeDelta::seconds(now.timestamp() % 60)
        - TimeDelta::nanoseconds(i64::from(now.timestamp_subsec_nanos()));
    let start = this_minute - TimeDelta::minutes(MINUTES as i64 - 1);
    let mut hour = Hour {
        start,
        events: vec![[0; 3]; MINUTES],
        latency: vec![Vec::new(); MINUTES],
    };
    for entry in entries {
        let n = &entry.notification;
        if let Some(m) = minute(start, n.created_at) {
            let payload = n.payload();
            for event in payload["message"]["events"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let kind = event["eventType"].as_str().unwrap_or_default();
                let index = TYPES.iter().position(|(t, _)| *t == kind).unwrap_or(1);
                hour.events[m][index] += 1;
            }
        }
        if let (OutboxStatus::Delivered, Some(at)) = (entry.status, entry.delivered_at) {
            if let Some(m) = minute(start, at) {
                let ms = (at - n.created_at).num_milliseconds().max(0);
                hour.latency[m].push(u64::try_from(ms).unwrap_or_default());
            }
        }
    }
    hour
}

const WIDTH: u64 = 600;
const HEIGHT: u64 = 140;
const BAR: u64 = WIDTH / MINUTES as u64;

fn time(at: DateTime<Utc>) -> String {
    at.format("%H:%M UTC").to_string()
}

/// Both charts, each with a text summary for screen readers and a legend.
pub(crate) fn render(hour: &Hour) -> String {
    let mut out = String::new();
    let totals: Vec<u64> = (0..3)
        .map(|i| hour.events.iter().map(|m| m[i]).sum())
        .collect();
    let peak = hour
        .events
        .iter()
        .map(|m| m.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let end = hour.start + TimeDelta::minutes(MINUTES as i64);
    let summary = format!(
        "Events per minute from {} to {}: {} created, {} updated, {} deleted; at most {peak} in one minute.",
        time(hour.start),
        time(end),
        totals[0],
        totals[1],
        totals[2]
    );
    let _ = write!(
        out,
        "<figure class=\"chart\"><figcaption>Events per minute, last hour</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"none\">",
        HEIGHT,
        esc(&summary)
    );
    for (m, counts) in hour.events.iter().enumerate() {
        let mut y = HEIGHT;
        let x = m as u64 * BAR;
        for (i, (name, class)) in TYPES.iter().enumerate() {
            if counts[i] == 0 {
                continue;
            }
            let h = (counts[i] * HEIGHT).div_ceil(peak).max(1);
            y = y.saturating_sub(h);
            let at = hour.start + TimeDelta::minutes(m as i64);
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{h}\"><title>{} {}: {}</title></rect>",
                BAR - 1,
                time(at),
                name,
                counts[i]
            );
        }
    }
    axis(&mut out, hour.start, Some(peak.to_string()));
    out.push_str("<ul class=\"legend\">");
    for (i, (name, class)) in TYPES.iter().enumerate() {
        let _ = write!(
            out,
            "<li><span class=\"swatch {class}\"></span>{name} {}</li>",
            totals[i]
        );
    }
    out.push_str("</ul></figure>");

    let averages: Vec<Option<u64>> = hour
        .latency
        .iter()
        .map(|l| (!l.is_empty()).then(|| l.iter().sum::<u64>() / l.len() as u64))
        .collect();
    let maxima: Vec<Option<u64>> = hour
        .latency
        .iter()
        .map(|l| l.iter().max().copied())
        .collect();
    let worst = maxima.iter().flatten().max().copied().unwrap_or(0).max(1);
    let delivered: usize = hour.latency.iter().map(Vec::len).sum();
    let summary = if delivered == 0 {
        "No notification was delivered in the last hour.".to_owned()
    } else {
        format!(
            "Delivery latency per minute from {} to {}: {delivered} notifications delivered, the slowest after {}.",
            time(hour.start),
            time(end),
            millis(worst)
        )
    };
    let _ = write!(
        out,
        "<figure class=\"chart\"><figcaption>Delivery latency (creation to delivery), last hour</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"none\">",
        HEIGHT,
        esc(&summary)
    );
    for m in 0..MINUTES {
        let (Some(avg), Some(max)) = (averages[m], maxima[m]) else {
            continue;
        };
        let x = m as u64 * BAR;
        let at = hour.start + TimeDelta::minutes(m as i64);
        let h_max = (max * HEIGHT).div_ceil(worst).max(1);
        let h_avg = (avg * HEIGHT).div_ceil(worst).max(1);
        let _ = write!(
            out,
            "<rect class=\"latency-max\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{h_max}\"><title>{}: slowest {}</title></rect>\
             <rect class=\"latency-avg\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{h_avg}\"><title>{}: average {} over {}</title></rect>",
            HEIGHT - h_max,
            BAR - 1,
            time(at),
            millis(max),
            HEIGHT - h_avg,
            BAR - 1,
            time(at),
            millis(avg),
            hour.latency[m].len()
        );
    }
    axis(&mut out, hour.start, (delivered > 0).then(|| millis(worst)));
    let _ = write!(
        out,
        "<ul class=\"legend\"><li><span class=\"swatch latency-avg\"></span>average</li>\
         <li><span class=\"swatch latency-max\"></span>slowest</li><li>{}</li></ul></figure>",
        esc(&summary)
    );
    out
}

/// The axis line (in the SVG, closed here) and its labels (HTML, so they do not stretch with
/// the bars): the first minute, the top value when there is data, now.
fn axis(out: &mut String, start: DateTime<Utc>, top: Option<String>) {
    let _ = write!(
        out,
        "<line class=\"axis\" vector-effect=\"non-scaling-stroke\" x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\"></line></svg>\
         <div class=\"axis-labels\" aria-hidden=\"true\"><span>{}</span><span>{}</span><span>now</span></div>",
        time(start),
        top.map(|top| format!("top {}", esc(&top))).unwrap_or_default(),
    );
}

fn millis(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{:.0} s", ms as f64 / 1000.0)
    } else if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use pollen_core::{Notification, PollKey, StableId};

    use super::*;

    fn entry(
        created: DateTime<Utc>,
        delivered: Option<DateTime<Utc>>,
        types: &[&str],
    ) -> OutboxEntry {
        let events: Vec<_> = types
            .iter()
            .map(|t| serde_json::json!({"eventType": t}))
            .collect();
        OutboxEntry {
            seq: 1,
            notification: Notification {
                id: StableId([7; 16]),
                key: PollKey::new("1", "customers"),
                created_at: created,
                event_ids: vec![],
                body: serde_json::json!({"message": {"events": events}}).to_string(),
                subscription: None,
            },
            status: if delivered.is_some() {
                OutboxStatus::Delivered
            } else {
                OutboxStatus::Pending
            },
            attempts: 1,
            next_attempt: created,
            last_error: None,
            lease: None,
            delivered_at: delivered,
        }
    }

    #[test]
    fn events_and_latencies_fall_in_their_minute() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 30).unwrap();
        let created = Utc.with_ymd_and_hms(2026, 3, 1, 9, 58, 10).unwrap();
        let old = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let entries = [
            entry(
                created,
                Some(created + TimeDelta::milliseconds(1500)),
                &["CREATED", "UPDATED"],
            ),
            entry(created, None, &["DELETED"]),
            entry(old, None, &["CREATED"]),
        ];
        let hour = tally(&entries, now);
        assert_eq!(
            hour.start,
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 1, 0).unwrap()
        );
        assert_eq!(hour.events[57], [1, 1, 1]);
        assert_eq!(
            hour.events.iter().flatten().sum::<u64>(),
            3,
            "the old one is out"
        );
        assert_eq!(hour.latency[57], vec![1500]);
        let svg = render(&hour);
        assert!(svg.contains("1 created, 1 updated, 1 deleted"), "{svg}");
        assert!(svg.contains("the slowest after 1.5 s"), "{svg}");
    }
}
