//! The dashboard reads of [`crate::overview`] on PostgreSQL.

use pollen_core::OutboxEntry;
use sqlx::{Postgres, QueryBuilder};

use super::{db, get, outbox_from, PgBackend};
use crate::error::Result;
use crate::overview::OutboxHealth;
use crate::shared::{db_count, db_u64, OUTBOX_COLUMNS};

impl PgBackend {
    pub(crate) async fn outbox_health(&self, instance: &str) -> Result<OutboxHealth> {
        let lanes = self.outbox_health_by_lane(instance).await?;
        Ok(lanes
            .into_iter()
            .fold(OutboxHealth::default(), |total, (_, lane)| total.plus(lane)))
    }

    pub(crate) async fn outbox_health_by_lane(
        &self,
        instance: &str,
    ) -> Result<Vec<(String, OutboxHealth)>> {
        let rows = sqlx::query(
            "SELECT lane, status, COUNT(*) AS n, COUNT(*) FILTER (WHERE attempts > 0) AS failing \
             FROM outbox WHERE instance = $1 GROUP BY lane, status ORDER BY lane",
        )
        .bind(instance)
        .fetch_all(&self.pool)
        .await
        .map_err(db("counting the outbox"))?;
        let mut lanes: Vec<(String, OutboxHealth)> = Vec::new();
        for row in &rows {
            let lane: String = get(row, "lane")?;
            if lanes.last().is_none_or(|(last, _)| *last != lane) {
                lanes.push((lane, OutboxHealth::default()));
            }
            if let Some((_, health)) = lanes.last_mut() {
                health.add(
                    &get::<String>(row, "status")?,
                    db_count(get::<i64>(row, "n")?),
                    db_count(get::<i64>(row, "failing")?),
                );
            }
        }
        Ok(lanes)
    }

    pub(crate) async fn inactive_lanes(&self, instance: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT instance FROM subscription_inactive \
             WHERE instance = $1 OR instance LIKE $1 || '/%' ORDER BY instance",
        )
        .bind(instance)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading deactivated subscriptions"))
    }

    pub(crate) async fn recent_outbox(
        &self,
        instance: Option<&str>,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE TRUE"
        ));
        if let Some(instance) = instance {
            q.push(" AND instance = ").push_bind(instance);
        }
        if let Some(before) = before_seq {
            q.push(" AND seq < ").push_bind(db_u64(before));
        }
        q.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(db_u64(limit as u64));
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing the newest notifications"))?;
        rows.iter().map(outbox_from).collect()
    }
}
