//! The draw's storage: the pre-queue's state as the draw hash keeps it, claiming and
//! performing the draw (the order itself is domain code, `frontrow_domain::draw`),
//! storing and loading the drawn places, and the receipts that let fans check it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::draw::{Draw, Seed, drawn_places, for_chunks, receipt_digest};
use frontrow_domain::error::QueueError;
use frontrow_domain::line::phase::DrawPhase;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::queue::TokenKey;

use crate::keys::LineKey;
use crate::line::Line;
use crate::replies::{DrawClaim, DrawInfo};
use crate::{Inner, parse, read, unavailable, write};

/// How long one instance's claim on the draw lasts before another may take it over.
const DRAW_CLAIM_MS: u64 = 60_000;

/// The pre-queue's phase the draw hash's `state` field names (its `DrawPhase::code`).
pub(crate) fn parse_phase(raw: &str) -> Result<DrawPhase, QueueError> {
    DrawPhase::from_code(raw)
        .ok_or_else(|| unavailable(format!("unexpected draw state {raw:?} from redis")))
}

/// Big-endian u32s (as `BITFIELD u32` stores them) from a Redis string.
fn be_u32s(bytes: &[u8], count: usize) -> Vec<u32> {
    let mut out: Vec<u32> = bytes
        .chunks(4)
        .take(count)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_be_bytes(b)
        })
        .collect();
    out.resize(count, 0);
    out
}

impl Inner {
    /// Follows the draw's state as `sync` read it: a drawn line's permutation is read
    /// once, before any event of the drawn line is applied.
    pub(crate) async fn follow_draw(&self, line: &Line, draw: DrawInfo) -> Result<(), QueueError> {
        let known = read(&line.view).phase().phase();
        if draw.state == known
            && !(draw.state == DrawPhase::Pre
                && read(&line.view).phase().opens_ms() != Some(draw.opens_ms))
        {
            return Ok(());
        }
        let perm = if draw.state == DrawPhase::Drawn {
            Some(self.load_perm(line, draw.k).await?)
        } else {
            None
        };
        write(&line.view).set_phase(draw.state, draw.k, draw.opens_ms, perm);
        Ok(())
    }

    /// The bytes of one of the line's string keys (empty when it is missing).
    async fn get_bytes(&self, line: &Line, key: LineKey) -> Result<Vec<u8>, QueueError> {
        let key = line.keys.get(key).to_owned();
        self.run(|mut conn| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
                .map(Option::unwrap_or_default)
        })
        .await
    }

    /// The stored draw: the place of each pre-queued number 1..=k.
    pub(crate) async fn load_perm(&self, line: &Line, k: u64) -> Result<Vec<u32>, QueueError> {
        let bytes = self.get_bytes(line, LineKey::Perm).await?;
        let count = usize::try_from(k).map_err(unavailable)?;
        if bytes.len() < count * 4 {
            return Err(unavailable("the stored draw is shorter than its entrants"));
        }
        Ok(be_u32s(&bytes, count))
    }

    /// Performs the concert's draw if this caller wins the claim: reads the pre-queued
    /// numbers, orders the live ones by the seed (in Rust: a million take well under a
    /// second), stores the places, then reveals. Another caller's live claim, or a
    /// draw already done, makes this a no-op.
    pub(crate) async fn perform_draw(
        &self,
        concert: ConcertId,
        line: &Line,
        now_ms: i64,
    ) -> Result<(), QueueError> {
        let owner = format!("{:016x}", rand::random::<u64>());
        let args = [owner.clone(), now_ms.to_string(), DRAW_CLAIM_MS.to_string()];
        let claim = self
            .invoke(&self.scripts.draw_claim, line, None, &args)
            .await?;
        let DrawClaim::Won {
            seed,
            k,
            epoch,
            left,
        } = claim
        else {
            return Ok(());
        };
        let read_at = Instant::now();
        let users = self.entrants(line, k).await?;
        let compute_at = Instant::now();
        let drawn = draw_places(
            &seed,
            &self.line_key(concert, epoch),
            concert,
            &users,
            &left,
        );
        let store_at = Instant::now();
        let perm_bytes: Vec<u8> = drawn.perm.iter().flat_map(|p| p.to_be_bytes()).collect();
        let key = line.keys.get(LineKey::Perm).to_owned();
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(perm_bytes)
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        let args = [owner, drawn.receipts.len().to_string()];
        let done = self
            .invoke(&self.scripts.draw_finish, line, None, &args)
            .await?;
        if done.0 {
            *line.receipts.lock().await = Some(Arc::new(drawn.receipts));
            tracing::info!(
                concert = concert.0,
                entrants = k,
                read_ms = (compute_at - read_at).as_millis() as u64,
                order_ms = (store_at - compute_at).as_millis() as u64,
                store_ms = store_at.elapsed().as_millis() as u64,
                "pre-queue drawn"
            );
        }
        Ok(())
    }

    /// The users of pre-queued numbers 1..=k.
    async fn entrants(&self, line: &Line, k: u64) -> Result<Vec<i64>, QueueError> {
        let bytes = self.get_bytes(line, LineKey::Entrants).await?;
        let count = usize::try_from(k).map_err(unavailable)?;
        let mut users: Vec<i64> = bytes
            .chunks(8)
            .take(count)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..c.len()].copy_from_slice(c);
                i64::from_be_bytes(b)
            })
            .collect();
        users.resize(count, 0);
        Ok(users)
    }

    /// The concert's draw as the public sees it (`None`: the line has no pre-queue).
    pub(crate) async fn draw_info(&self, concert: ConcertId) -> Result<Option<Draw>, QueueError> {
        let key = self.keys.of(concert, LineKey::Draw);
        let raw: Vec<Option<String>> = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("state")
                    .arg("commitment")
                    .arg("opens")
                    .arg("live")
                    .arg("n")
                    .arg("seed")
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        let [Some(state), Some(commitment), Some(opens), live, n, seed] = &raw[..] else {
            return Ok(None);
        };
        let drawn = parse_phase(state)? == DrawPhase::Drawn;
        let entrants = if drawn { n } else { live };
        Ok(Some(Draw {
            commitment: commitment.clone(),
            opens_at: Utc
                .timestamp_millis_opt(parse(opens)?)
                .single()
                .unwrap_or_default(),
            entrants: parse::<i64>(entrants.as_deref().unwrap_or("0"))?.max(0) as u64,
            seed: if drawn { seed.clone() } else { None },
        }))
    }

    /// The drawn fans' receipts in drawn order, computed once per instance (`None`: the
    /// line has not been drawn).
    pub(crate) async fn receipts(
        &self,
        concert: ConcertId,
    ) -> Result<Option<Arc<Vec<[u8; 32]>>>, QueueError> {
        let line = self.line(concert);
        let mut cached = line.receipts.lock().await;
        if let Some(receipts) = &*cached {
            return Ok(Some(receipts.clone()));
        }
        let key = line.keys.get(LineKey::Draw).to_owned();
        let raw: Vec<Option<String>> = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("state")
                    .arg("k")
                    .arg("n")
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        let [Some(state), Some(k), Some(n)] = &raw[..] else {
            return Ok(None);
        };
        if parse_phase(state)? != DrawPhase::Drawn {
            return Ok(None);
        }
        let (k, n): (u64, usize) = (parse(k)?, parse(n)?);
        let perm = self.load_perm(&line, k).await?;
        let users = self.entrants(&line, k).await?;
        let epoch: u64 = {
            let key = line.keys.get(LineKey::Stats).to_owned();
            let e: Option<String> = self
                .run(|mut conn| async move {
                    redis::cmd("HGET")
                        .arg(key)
                        .arg("epoch")
                        .query_async::<Option<String>>(&mut conn)
                        .await
                })
                .await?;
            parse(e.as_deref().unwrap_or("0"))?
        };
        let signer = self.line_key(concert, epoch).signer();
        // Number i + 1's receipt, then each put at its drawn place.
        let mut by_number = vec![[0u8; 32]; perm.len()];
        for_chunks(&mut by_number, |first, chunk| {
            for (j, slot) in chunk.iter_mut().enumerate() {
                let i = first + j;
                if (1..=n).contains(&(perm[i] as usize)) {
                    let user = UserId(users[i]);
                    *slot = receipt_digest(signer.issue(concert, i as u64 + 1, user).as_str());
                }
            }
        });
        let mut receipts = vec![[0u8; 32]; n];
        for (i, &place) in perm.iter().enumerate() {
            let place = place as usize;
            if (1..=n).contains(&place) {
                receipts[place - 1] = by_number[i];
            }
        }
        let receipts = Arc::new(receipts);
        *cached = Some(receipts.clone());
        Ok(Some(receipts))
    }
}

/// A drawn pre-queue: the place of each number 1..=k and the receipts in drawn order.
struct Drawn {
    perm: Vec<u32>,
    receipts: Vec<[u8; 32]>,
}

/// The draw of numbers 1..=`users.len()` (user of each, in number order), those in
/// `left` excluded: the live ones take places 1..=n in the seed's order of their
/// receipts, the ones that left the places after them in number order.
fn draw_places(
    seed: &Seed,
    key: &TokenKey,
    concert: ConcertId,
    users: &[i64],
    left: &HashSet<u64>,
) -> Drawn {
    let live: Vec<u64> = (1..=users.len() as u64)
        .filter(|n| !left.contains(n))
        .collect();
    let signer = key.signer();
    let mut hashed: Vec<([u8; 32], String)> = vec![([0; 32], String::new()); live.len()];
    for_chunks(&mut hashed, |first, chunk| {
        for (j, slot) in chunk.iter_mut().enumerate() {
            let n = live[first + j];
            let user = UserId(users[(n - 1) as usize]);
            let digest = receipt_digest(signer.issue(concert, n, user).as_str());
            *slot = (digest, hex::encode(digest));
        }
    });
    let (digests, receipts): (Vec<[u8; 32]>, Vec<String>) = hashed.into_iter().unzip();
    let order = seed.order(&receipts);
    Drawn {
        perm: drawn_places(users.len() as u64, &live, &order),
        receipts: order.iter().map(|&i| digests[i]).collect(),
    }
}
