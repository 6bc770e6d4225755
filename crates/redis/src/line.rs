//! One concert's line as this instance knows it: its keys, its view, and the per-line
//! state of heartbeats, signing and the draw; made on first use, dropped when the line
//! retires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use frontrow_domain::error::QueueError;
use frontrow_domain::model::ConcertId;
use frontrow_domain::queue::TokenSigner;
use std::cell::RefCell;
use thread_local::ThreadLocal;

use crate::keys::LineKeys;
use crate::view::View;
use crate::{Inner, lock, read, write};

/// One concert as this instance knows it.
pub(crate) struct Line {
    pub concert: ConcertId,
    pub keys: LineKeys,
    pub view: RwLock<View>,
    /// Heartbeats not yet flushed: place → latest ms, one map per calling thread so the
    /// workers answering polls never wait for each other (the flush drains them all).
    pub beats: ThreadLocal<Mutex<HashMap<u64, i64>>>,
    /// The heartbeat this instance last sent per waiting place.
    pub flushed: Mutex<HashMap<u64, i64>>,
    /// Places found quiet by the last scan of the heartbeats, and when it ran.
    pub idle: Mutex<IdleScan>,
    /// The line's token signer and the epoch it is for, kept per calling thread so that
    /// checking a poll's token neither derives the key again nor touches a shared lock.
    pub signers: ThreadLocal<RefCell<Option<(u64, TokenSigner)>>>,
    /// One stream read at a time.
    pub syncing: tokio::sync::Mutex<()>,
    /// The drawn fans' receipts (SHA-256 of their tokens) in drawn order, computed once
    /// per instance when first asked for (the draw never changes).
    pub receipts: tokio::sync::Mutex<Option<Arc<Vec<[u8; 32]>>>>,
    /// The users hash bucket the next sweep starts at (see `sweep`).
    pub sweep_next: AtomicI64,
}

#[derive(Default)]
pub(crate) struct IdleScan {
    pub scanned_at_ms: Option<i64>,
    /// (place, heartbeat ms mod 2^32) in place order.
    pub candidates: Vec<(u64, u32)>,
}

impl Line {
    /// The line of `concert` on `keys`, registered nowhere.
    pub fn new(concert: ConcertId, keys: LineKeys) -> Self {
        Line {
            concert,
            keys,
            view: RwLock::new(View::default()),
            beats: ThreadLocal::new(),
            flushed: Mutex::new(HashMap::new()),
            idle: Mutex::new(IdleScan::default()),
            signers: ThreadLocal::new(),
            syncing: tokio::sync::Mutex::new(()),
            receipts: tokio::sync::Mutex::new(None),
            sweep_next: AtomicI64::new(crate::sweep::sweep_start()),
        }
    }
}

impl Inner {
    /// The concert's line as this instance knows it, made on first use.
    pub(crate) fn line(&self, concert: ConcertId) -> Arc<Line> {
        if let Some(line) = self.known_line(concert) {
            return line;
        }
        let line = self.shared_line(concert);
        self.lines_here
            .get_or_default()
            .borrow_mut()
            .1
            .insert(concert, line.clone());
        line
    }

    /// The concert's line if this thread knows it (a retired line dropped since is
    /// not), without making one.
    pub(crate) fn known_line(&self, concert: ConcertId) -> Option<Arc<Line>> {
        let here = self.lines_here.get_or_default();
        let generation = self.lines_gen.load(Ordering::Acquire);
        let mut kept = here.borrow_mut();
        if kept.0 != generation {
            *kept = (generation, HashMap::new());
        }
        kept.1.get(&concert).cloned()
    }

    fn shared_line(&self, concert: ConcertId) -> Arc<Line> {
        if let Some(line) = read(&self.concerts).get(&concert) {
            return line.clone();
        }
        let mut map = write(&self.concerts);
        map.entry(concert)
            .or_insert_with(|| Arc::new(Line::new(concert, self.keys.line(concert))))
            .clone()
    }

    /// Every line this instance knows.
    pub(crate) fn lines(&self) -> Vec<Arc<Line>> {
        read(&self.concerts).values().cloned().collect()
    }

    /// Adds the concert to the global set once per process (a separate command: the set
    /// lives outside the concert's slot).
    pub(crate) async fn register(&self, concert: ConcertId) -> Result<(), QueueError> {
        if lock(&self.registered).contains(&concert) {
            return Ok(());
        }
        let key = self.keys.concerts();
        self.run(|mut conn| async move {
            deadpool_redis::redis::cmd("SADD")
                .arg(&key)
                .arg(concert.0)
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        lock(&self.registered).insert(concert);
        Ok(())
    }
}
