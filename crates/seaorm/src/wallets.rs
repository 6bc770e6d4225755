//! `WalletRepository`: balances and the ledger, changed by conditional updates only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::WalletError;
use frontrow_domain::model::{Money, UserId};
use frontrow_domain::ports::WalletRepository;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::convert::{money, ms};
use crate::entity::{ledger_entry, wallet, wallet_charge};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::store::SeaOrmStore;

/// The most a wallet may hold, in minor units.
const BALANCE_LIMIT: i64 = i64::MAX / 2;

/// The stored balance in minor units, `None` when the user has no wallet.
pub(crate) async fn read_balance(
    conn: &impl ConnectionTrait,
    user: i64,
) -> Result<Option<i64>, DbErr> {
    Ok(wallet::Entity::find_by_id(user)
        .one(conn)
        .await?
        .map(|w| w.balance))
}

/// Takes `amount` from the user's wallet if the balance covers it (one conditional
/// update; the schema's check keeps it from going below zero whatever the code does):
/// the balance after, or `None` when it did not cover the amount. PostgreSQL and SQLite
/// say the new balance in the same statement; MariaDB/MySQL read it back under the lock
/// just taken.
pub(crate) async fn debit(
    conn: &impl ConnectionTrait,
    user: i64,
    amount: i64,
) -> Result<Option<i64>, DbErr> {
    let backend = conn.get_database_backend();
    if backend.support_returning() {
        let row = conn
            .query_one_raw(crate::convert::raw(
                backend,
                "UPDATE wallets SET balance = balance - ?, version = version + 1 \
                 WHERE user_id = ? AND balance >= ? RETURNING balance",
                vec![amount.into(), user.into(), amount.into()],
            ))
            .await?;
        return row.map(|r| r.try_get::<i64>("", "balance")).transpose();
    }
    let debited = wallet::Entity::update_many()
        .col_expr(
            wallet::Column::Balance,
            Expr::col(wallet::Column::Balance).sub(amount),
        )
        .col_expr(
            wallet::Column::Version,
            Expr::col(wallet::Column::Version).add(1),
        )
        .filter(wallet::Column::UserId.eq(user))
        .filter(wallet::Column::Balance.gte(amount))
        .exec(conn)
        .await?
        .rows_affected;
    if debited == 0 {
        return Ok(None);
    }
    read_balance(conn, user).await
}

/// What a charge with an idempotency key found or did.
enum Keyed {
    Charged(Money),
    Replayed(Money),
}

impl SeaOrmStore {
    /// One attempt of a keyed charge: the key's row first (its unique index decides
    /// between concurrent twins), then the balance, then the row's stored balance.
    async fn try_charge_once(
        &self,
        user: i64,
        amount: Money,
        key: &str,
        now: i64,
    ) -> Result<Keyed, Fail<WalletError>> {
        if let Some(found) = self.stored_charge(user, key, amount).await? {
            return Ok(found);
        }
        let txn = self.begin_write().await?;
        let inserted = wallet_charge::Entity::insert(wallet_charge::ActiveModel {
            user_id: Set(user),
            idempotency_key: Set(key.to_owned()),
            amount: Set(amount.minor_units()),
            balance_after: Set(0),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        let id = match inserted {
            Ok(r) => r.last_insert_id,
            Err(e) if is_unique_violation(&e) => {
                txn.rollback().await?;
                return match self.stored_charge(user, key, amount).await? {
                    Some(found) => Ok(found),
                    None => Err(Fail::Db(DbErr::Custom("charge key vanished".into()))),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let balance = match self.charge_in(&txn, user, amount, now).await? {
            Ok(b) => b,
            Err(e) => {
                txn.rollback().await?;
                return Err(Fail::Domain(e));
            }
        };
        wallet_charge::Entity::update_many()
            .col_expr(
                wallet_charge::Column::BalanceAfter,
                Expr::value(balance.minor_units()),
            )
            .filter(wallet_charge::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Keyed::Charged(balance))
    }

    /// The charge stored under the key: a replay when the amount matches.
    async fn stored_charge(
        &self,
        user: i64,
        key: &str,
        amount: Money,
    ) -> Result<Option<Keyed>, Fail<WalletError>> {
        let Some(c) = wallet_charge::Entity::find()
            .filter(wallet_charge::Column::UserId.eq(user))
            .filter(wallet_charge::Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if c.amount != amount.minor_units() {
            return Err(Fail::Domain(WalletError::KeyReused));
        }
        Ok(Some(Keyed::Replayed(money(c.balance_after)?)))
    }

    /// Adds `amount` inside `txn` with its ledger entry; the new balance, or why not.
    async fn charge_in(
        &self,
        txn: &impl ConnectionTrait,
        user: i64,
        amount: Money,
        now: i64,
    ) -> Result<Result<Money, WalletError>, DbErr> {
        let headroom = BALANCE_LIMIT.saturating_sub(amount.minor_units());
        let updated = wallet::Entity::update_many()
            .col_expr(
                wallet::Column::Balance,
                Expr::col(wallet::Column::Balance).add(amount.minor_units()),
            )
            .col_expr(
                wallet::Column::Version,
                Expr::col(wallet::Column::Version).add(1),
            )
            .filter(wallet::Column::UserId.eq(user))
            .filter(wallet::Column::Balance.lte(headroom))
            .exec(txn)
            .await?
            .rows_affected;
        if updated == 0 {
            let exists = read_balance(txn, user).await?.is_some();
            return Ok(Err(if exists {
                WalletError::BalanceLimit
            } else {
                WalletError::UserNotFound
            }));
        }
        let balance = money(read_balance(txn, user).await?.unwrap_or_default())?;
        ledger_entry::Entity::insert(ledger_entry::ActiveModel {
            user_id: Set(user),
            delta: Set(amount.minor_units()),
            balance_after: Set(balance.minor_units()),
            kind: Set("CHARGE".to_owned()),
            reservation_id: Set(None),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(txn)
        .await?;
        Ok(Ok(balance))
    }

    async fn try_charge(
        &self,
        user: i64,
        amount: Money,
        now: i64,
    ) -> Result<Money, Fail<WalletError>> {
        let txn = self.begin_write().await?;
        let headroom = BALANCE_LIMIT.saturating_sub(amount.minor_units());
        let updated = wallet::Entity::update_many()
            .col_expr(
                wallet::Column::Balance,
                Expr::col(wallet::Column::Balance).add(amount.minor_units()),
            )
            .col_expr(
                wallet::Column::Version,
                Expr::col(wallet::Column::Version).add(1),
            )
            .filter(wallet::Column::UserId.eq(user))
            .filter(wallet::Column::Balance.lte(headroom))
            .exec(&txn)
            .await?
            .rows_affected;
        if updated == 0 {
            let exists = read_balance(&txn, user).await?.is_some();
            txn.rollback().await?;
            return Err(Fail::Domain(if exists {
                WalletError::BalanceLimit
            } else {
                WalletError::UserNotFound
            }));
        }
        let balance = money(read_balance(&txn, user).await?.unwrap_or_default())?;
        ledger_entry::Entity::insert(ledger_entry::ActiveModel {
            user_id: Set(user),
            delta: Set(amount.minor_units()),
            balance_after: Set(balance.minor_units()),
            kind: Set("CHARGE".to_owned()),
            reservation_id: Set(None),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(balance)
    }
}

#[async_trait]
impl WalletRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(user = user.0), err(level = "debug"))]
    async fn balance(&self, user: UserId) -> Result<Money, WalletError> {
        let balance = read_balance(&self.db, user.0)
            .await
            .map_err(store_err)?
            .ok_or(WalletError::UserNotFound)?;
        Ok(money(balance).map_err(store_err)?)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, amount), err(level = "debug"))]
    async fn charge(
        &self,
        user: UserId,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Money, WalletError> {
        let now = ms(now);
        retrying!(self.try_charge(user.0, amount, now).await)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, amount), err(level = "debug"))]
    async fn charge_once(
        &self,
        user: UserId,
        amount: Money,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Money, bool), WalletError> {
        let now = ms(now);
        let done: Keyed = retrying!(self.try_charge_once(user.0, amount, key, now).await)?;
        Ok(match done {
            Keyed::Charged(b) => (b, false),
            Keyed::Replayed(b) => (b, true),
        })
    }
}
