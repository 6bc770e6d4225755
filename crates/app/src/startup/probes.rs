//! The readiness probes (`/readyz`) of the wired dependencies: the database pool and the
//! queue, each also recording its pool gauges when `/metrics` is read.

use std::sync::Arc;

use async_trait::async_trait;
use frontrow_seaorm::SeaOrmStore;

use super::wiring::QueueBackend;
use crate::http::Probe;
use crate::telemetry;

/// The probes of `store` and `queue`, in the order `/readyz` names them.
pub fn probes(store: &SeaOrmStore, queue: &QueueBackend) -> Vec<Arc<dyn Probe>> {
    vec![
        Arc::new(DatabaseProbe(store.clone())),
        Arc::new(QueueProbe(queue.clone())),
    ]
}

struct DatabaseProbe(SeaOrmStore);

#[async_trait]
impl Probe for DatabaseProbe {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }

    fn record_metrics(&self) {
        let s = self.0.pool_stats();
        telemetry::record_db_pool(s.size, s.idle, s.max);
        let g = self.0.order_groups();
        telemetry::record_order_groups(g.groups, g.orders);
    }
}

struct QueueProbe(QueueBackend);

#[async_trait]
impl Probe for QueueProbe {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.port().ping().await.map_err(|e| e.to_string())
    }

    fn record_metrics(&self) {
        if let QueueBackend::Redis(q) = &self.0 {
            let (slots, open) = q.pool_status();
            telemetry::record_redis_pool(slots, open, q.connection_status().connects);
        }
    }
}
