//! A short-lived cache of the hot catalog reads (seat maps, schedule availability),
//! stored as ready-to-send JSON.
//!
//! During an on-sale every admitted fan reloads the seat map; without a cache each load is
//! a database query over every seat plus its serialization. Entries live at most `ttl`,
//! and every booking write through this instance (hold, cancel, payment, sweep) makes all
//! of them stale at once, so an instance always reads its own writes; other instances'
//! writes show within `ttl`. Concurrent misses of one key wait for a single load
//! (no thundering herd after an invalidation). Holds are still decided by the database
//! alone: a stale map can only turn into a 409, never into a double sale.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// What is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadKey {
    Seats(i64),
    Schedules(i64),
    Concert(i64),
}

struct Entry {
    at: Instant,
    generation: u64,
    body: Bytes,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

pub struct ReadCache {
    ttl: Duration,
    generation: AtomicU64,
    slots: Mutex<HashMap<ReadKey, Slot>>,
}

impl ReadCache {
    /// A cache whose entries live at most `ttl`; a zero `ttl` turns caching off.
    pub fn new(ttl: Duration) -> Self {
        ReadCache {
            ttl,
            generation: AtomicU64::new(0),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Makes every entry stale (after any booking write).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The cached body for `key`, or the result of `load` (cached when it succeeds).
    pub async fn get_or_load<E, F, Fut>(&self, key: ReadKey, load: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        if self.ttl.is_zero() {
            return load().await;
        }
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        let mut entry = slot.lock().await;
        // Read the generation after taking the slot: a write that lands while this load
        // runs bumps it again, so the stored entry is already stale for the next reader.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(e) = entry.as_ref()
            && e.generation == generation
            && e.at.elapsed() < self.ttl
        {
            return Ok(e.body.clone());
        }
        let body = load().await?;
        *entry = Some(Entry {
            at: Instant::now(),
            generation,
            body: body.clone(),
        });
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    async fn load(n: &AtomicUsize) -> Result<Bytes, ()> {
        let i = n.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Bytes::from(i.to_string()))
    }

    #[tokio::test]
    async fn concurrent_misses_load_once_and_writes_invalidate() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let n = AtomicUsize::new(0);
        let key = ReadKey::Seats(1);
        let all =
            futures::future::join_all((0..10).map(|_| cache.get_or_load(key, || load(&n)))).await;
        assert!(
            all.iter()
                .all(|b| b.as_ref().ok() == Some(&Bytes::from("0")))
        );
        assert_eq!(n.load(Ordering::SeqCst), 1);
        cache.invalidate_all();
        let b = cache.get_or_load(key, || load(&n)).await.unwrap();
        assert_eq!(b, Bytes::from("1"));
        let other = cache
            .get_or_load(ReadKey::Seats(2), || load(&n))
            .await
            .unwrap();
        assert_eq!(other, Bytes::from("2"));
    }

    #[tokio::test]
    async fn entries_expire_and_a_zero_ttl_never_caches() {
        let cache = ReadCache::new(Duration::from_millis(30));
        let n = AtomicUsize::new(0);
        let key = ReadKey::Concert(1);
        cache.get_or_load(key, || load(&n)).await.unwrap();
        cache.get_or_load(key, || load(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        cache.get_or_load(key, || load(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2);

        let off = ReadCache::new(Duration::ZERO);
        off.get_or_load(key, || load(&n)).await.unwrap();
        off.get_or_load(key, || load(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn failed_loads_are_not_cached() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let r: Result<Bytes, &str> = cache
            .get_or_load(ReadKey::Seats(9), || async { Err("down") })
            .await;
        assert!(r.is_err());
        let ok: Result<Bytes, &str> = cache
            .get_or_load(ReadKey::Seats(9), || async { Ok(Bytes::from("x")) })
            .await;
        assert_eq!(ok.unwrap(), Bytes::from("x"));
    }
}
