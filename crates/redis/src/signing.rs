//! Queue tokens: the key each incarnation of a line signs with, a signer kept per
//! thread, checking a token against the line (with one fresh read when it fails), and
//! the script calls made on a checked token's behalf.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use frontrow_domain::error::QueueError;
use frontrow_domain::model::ConcertId;
use frontrow_domain::queue::{QueueToken, TokenKey, TokenSigner};

use crate::line::Line;
use crate::scripts::{LineScript, Reply};
use crate::sync::RECHECK;
use crate::{Inner, read};

impl Inner {
    /// The key tokens of this incarnation of the line are signed with.
    pub(crate) fn line_key(&self, concert: ConcertId, epoch: u64) -> TokenKey {
        self.settings.token_key.for_line(concert, epoch)
    }

    /// Checks the token against the line as the view knows it; returns the epoch it was
    /// signed for (the scripts check it is still the line's).
    fn verify(&self, line: &Line, token: &QueueToken) -> Result<u64, QueueError> {
        let epoch = read(&line.view).epoch;
        if epoch == 0 {
            return Err(QueueError::UnknownToken);
        }
        self.signed(line, token, epoch)
            .then_some(epoch)
            .ok_or(QueueError::UnknownToken)
    }

    /// Whether `token` was signed for the line's incarnation `epoch`.
    pub(crate) fn signed(&self, line: &Line, token: &QueueToken, epoch: u64) -> bool {
        self.with_signer(line, token.concert(), epoch, |signer| signer.signed(token))
    }

    /// Runs `f` with this thread's kept signer of the line's incarnation `epoch` (made
    /// again when the epoch changed): issuing and checking tokens derive no key.
    pub(crate) fn with_signer<R>(
        &self,
        line: &Line,
        concert: ConcertId,
        epoch: u64,
        f: impl FnOnce(&TokenSigner) -> R,
    ) -> R {
        let mut kept = line.signers.get_or_default().borrow_mut();
        if !matches!(&*kept, Some((at, _)) if *at == epoch) {
            *kept = Some((epoch, self.line_key(concert, epoch).signer()));
        }
        let (_, signer) = kept
            .as_ref()
            .unwrap_or_else(|| unreachable!("set just above"));
        f(signer)
    }

    /// `verify`, but a token that fails against a view read more than one background
    /// interval ago gets one more try after a fresh read: the line may have started over
    /// since. Forged tokens thus cost at most one read per interval. A view read before
    /// the line's first entrant (epoch 0: its ticker reads every line it knows) cannot
    /// judge any token, however recent the read: it always gets the fresh read (callers
    /// at once share it), or the first fans in would be told their token is unknown.
    pub(crate) async fn verify_current(
        &self,
        line: &Line,
        token: &QueueToken,
    ) -> Result<u64, QueueError> {
        match self.verify(line, token) {
            Ok(epoch) => Ok(epoch),
            Err(e) => {
                let stale = {
                    let v = read(&line.view);
                    v.epoch == 0 || v.synced.is_none_or(|at| at.elapsed() >= RECHECK)
                };
                if !stale {
                    return Err(e);
                }
                self.sync_unless_newer(line, Instant::now()).await?;
                self.verify(line, token)
            }
        }
    }

    /// Runs a script about one token's number (ARGV: number, now ms, the epoch it was
    /// signed for), after checking the token against a current view of its line.
    pub(crate) async fn token_call<R: Reply>(
        &self,
        script: &LineScript<R>,
        token: &QueueToken,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Line>, R), QueueError> {
        let line = self.line(token.concert());
        self.ready_view(&line).await?;
        let epoch = self.verify_current(&line, token).await?;
        // The user last, with their bucket of the users hash among the keys: leaving
        // drops the user's entry there (the index shrinks as fans leave).
        let args = [
            token.seq().to_string(),
            now.timestamp_millis().to_string(),
            epoch.to_string(),
            token.user().0.to_string(),
        ];
        let reply = self
            .invoke(script, &line, Some(token.user()), &args)
            .await?;
        Ok((line, reply))
    }
}
