//! The accounts use case: registering fans and their wallets (balance, charge).

use std::sync::Arc;

use crate::error::{StoreError, WalletError};
use crate::model::{Money, User, UserId};
use crate::ports::{Clock, UserRepository, WalletRepository};

/// The largest single wallet charge unless configured otherwise.
pub const DEFAULT_MAX_CHARGE: Money = Money::from_u32(100_000_000);

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The longest identity-provider subject (issuer and `sub`) a user can be known by.
pub const MAX_SUBJECT_BYTES: usize = 255;

/// Errors of the accounts use case.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("name must be 1 to {MAX_NAME_CHARS} characters")]
    InvalidName,
    #[error("subject must be 1 to {MAX_SUBJECT_BYTES} bytes")]
    InvalidSubject,
    #[error("user not found")]
    UserNotFound,
    #[error("amount must be between 1 and {max}")]
    InvalidAmount { max: Money },
    /// The balance would exceed what the wallet can hold.
    #[error("balance limit exceeded")]
    BalanceLimit,
    /// The idempotency key was used before for another amount.
    #[error("idempotency key was already used for another charge")]
    KeyReused,
    /// The idempotency key is empty or longer than `max` bytes.
    #[error("idempotency key must be 1 to {max} characters")]
    InvalidIdempotencyKey { max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WalletError> for AccountsError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::UserNotFound => AccountsError::UserNotFound,
            WalletError::BalanceLimit => AccountsError::BalanceLimit,
            WalletError::KeyReused => AccountsError::KeyReused,
            WalletError::Unavailable(s) => AccountsError::Store(s),
        }
    }
}

/// Users and their wallets.
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserRepository>,
    wallets: Arc<dyn WalletRepository>,
    clock: Arc<dyn Clock>,
    /// The largest single wallet charge.
    max_charge: Money,
}

impl Accounts {
    pub fn new(
        users: Arc<dyn UserRepository>,
        wallets: Arc<dyn WalletRepository>,
        clock: Arc<dyn Clock>,
        max_charge: Money,
    ) -> Self {
        Accounts {
            users,
            wallets,
            clock,
            max_charge,
        }
    }

    /// Registers a user with an empty wallet.
    pub async fn register(&self, name: &str) -> Result<User, AccountsError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(AccountsError::InvalidName);
        }
        Ok(self.users.create(name, self.clock.now()).await?)
    }

    /// The user an identity provider vouches for as `subject`, created (with an empty
    /// wallet) on first sight. `name` is a display name hint: trimmed and cut to
    /// [`MAX_NAME_CHARS`]; `fan` when empty.
    pub async fn identify(&self, subject: &str, name: &str) -> Result<User, AccountsError> {
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(AccountsError::InvalidSubject);
        }
        let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
        let name = if name.trim().is_empty() {
            "fan".to_owned()
        } else {
            name.trim().to_owned()
        };
        Ok(self
            .users
            .by_external_subject(subject, &name, self.clock.now())
            .await?)
    }

    pub async fn balance(&self, user: UserId) -> Result<Money, AccountsError> {
        Ok(self.wallets.balance(user).await?)
    }

    /// Adds money to the wallet; `amount` (minor units) must be in `1..=max_charge`.
    pub async fn charge(&self, user: UserId, amount: i64) -> Result<Money, AccountsError> {
        let amount = Money::new(amount)
            .ok()
            .filter(|a| *a > Money::ZERO && *a <= self.max_charge)
            .ok_or(AccountsError::InvalidAmount {
                max: self.max_charge,
            })?;
        Ok(self.wallets.charge(user, amount, self.clock.now()).await?)
    }

    /// Like `charge`, once per idempotency key: a retry with the same key and amount
    /// answers the first charge's balance and charges nothing (`true`: a replay).
    pub async fn charge_once(
        &self,
        user: UserId,
        amount: i64,
        key: &str,
    ) -> Result<(Money, bool), AccountsError> {
        let key =
            crate::booking::idempotency_key(key).ok_or(AccountsError::InvalidIdempotencyKey {
                max: crate::booking::MAX_IDEMPOTENCY_KEY_LEN,
            })?;
        let amount = Money::new(amount)
            .ok()
            .filter(|a| *a > Money::ZERO && *a <= self.max_charge)
            .ok_or(AccountsError::InvalidAmount {
                max: self.max_charge,
            })?;
        Ok(self
            .wallets
            .charge_once(user, amount, key, self.clock.now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::ports::{MockClock, MockUserRepository, MockWalletRepository};

    fn accounts(users: MockUserRepository, wallets: MockWalletRepository) -> Accounts {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .returning(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        Accounts::new(
            Arc::new(users),
            Arc::new(wallets),
            Arc::new(clock),
            Money::from_u32(1_000),
        )
    }

    #[tokio::test]
    async fn charge_checks_bounds_and_maps_every_wallet_error() {
        let mut w = MockWalletRepository::new();
        w.expect_charge().returning(|u, a, _| match u.0 {
            1 => Ok(a),
            2 => Err(WalletError::UserNotFound),
            3 => Err(WalletError::BalanceLimit),
            _ => Err(WalletError::Unavailable(StoreError::new("down"))),
        });
        let a = accounts(MockUserRepository::new(), w);
        assert_eq!(
            a.charge(UserId(1), 500).await.unwrap(),
            Money::from_u32(500)
        );
        for bad in [0, -5, 1_001] {
            assert!(matches!(
                a.charge(UserId(1), bad).await,
                Err(AccountsError::InvalidAmount { .. })
            ));
        }
        assert!(matches!(
            a.charge(UserId(2), 5).await,
            Err(AccountsError::UserNotFound)
        ));
        assert!(matches!(
            a.charge(UserId(3), 5).await,
            Err(AccountsError::BalanceLimit)
        ));
        assert!(matches!(
            a.charge(UserId(4), 5).await,
            Err(AccountsError::Store(_))
        ));
    }

    #[tokio::test]
    async fn balance_of_an_unknown_user_is_not_found() {
        let mut w = MockWalletRepository::new();
        w.expect_balance().returning(|u| {
            if u == UserId(1) {
                Ok(Money::from_u32(3))
            } else {
                Err(WalletError::UserNotFound)
            }
        });
        let a = accounts(MockUserRepository::new(), w);
        assert_eq!(a.balance(UserId(1)).await.unwrap(), Money::from_u32(3));
        assert!(matches!(
            a.balance(UserId(2)).await,
            Err(AccountsError::UserNotFound)
        ));
    }

    #[tokio::test]
    async fn register_trims_and_checks_names() {
        let mut u = MockUserRepository::new();
        u.expect_create().returning(|n, at| {
            if n == "down" {
                return Err(StoreError::new("down"));
            }
            Ok(User {
                id: UserId(1),
                name: n.to_owned(),
                created_at: at,
            })
        });
        let a = accounts(u, MockWalletRepository::new());
        assert_eq!(a.register("  Ada ").await.unwrap().name, "Ada");
        assert!(matches!(
            a.register(" ").await,
            Err(AccountsError::InvalidName)
        ));
        assert!(matches!(
            a.register(&"x".repeat(101)).await,
            Err(AccountsError::InvalidName)
        ));
        assert!(matches!(
            a.register("down").await,
            Err(AccountsError::Store(_))
        ));
    }

    #[tokio::test]
    async fn identify_checks_the_subject_and_shapes_the_name() {
        let mut u = MockUserRepository::new();
        u.expect_by_external_subject().returning(|s, n, at| {
            if s == "down" {
                return Err(StoreError::new("down"));
            }
            Ok(User {
                id: UserId(9),
                name: n.to_owned(),
                created_at: at,
            })
        });
        let a = accounts(u, MockWalletRepository::new());
        assert_eq!(a.identify("idp|1", " Ada ").await.unwrap().name, "Ada");
        assert_eq!(a.identify("idp|1", "  ").await.unwrap().name, "fan");
        let long = a.identify("idp|1", &"é".repeat(150)).await.unwrap().name;
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(matches!(
            a.identify("", "Ada").await,
            Err(AccountsError::InvalidSubject)
        ));
        assert!(matches!(
            a.identify(&"s".repeat(MAX_SUBJECT_BYTES + 1), "Ada").await,
            Err(AccountsError::InvalidSubject)
        ));
        assert!(matches!(
            a.identify("down", "Ada").await,
            Err(AccountsError::Store(_))
        ));
    }
}
