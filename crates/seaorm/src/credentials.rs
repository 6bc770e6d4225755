//! `CredentialRepository`, `SessionRepository` and `PasskeyRepository`: accounts with an
//! email and password, signed-in devices, passkeys and their ceremonies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::credentials::port::{
    CredentialRepository, PasskeyRepository, SessionRepository,
};
use frontrow_domain::credentials::{
    CredentialError, Email, NewPasskey, PasskeyCeremony, Profile, Session, StoredPasskey,
};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{User, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::convert::{at, ms};
use crate::entity::{passkey, passkey_ceremony, session, user, wallet};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::store::SeaOrmStore;
use crate::users::model_to_user;

/// What a new account starts with besides its name.
enum Opening<'a> {
    Password { email: &'a Email, hash: &'a str },
    Passkey(&'a NewPasskey),
}

impl From<StoreError> for Fail<CredentialError> {
    fn from(e: StoreError) -> Self {
        Fail::Domain(CredentialError::Unavailable(e))
    }
}

impl SeaOrmStore {
    /// One attempt at creating a user, their empty wallet and their email or passkey.
    async fn try_open_account(
        &self,
        name: &str,
        opening: &Opening<'_>,
        now: i64,
    ) -> Result<User, Fail<CredentialError>> {
        let taken = |e: DbErr| match opening {
            _ if !is_unique_violation(&e) => Fail::Db(e),
            Opening::Password { .. } => Fail::Domain(CredentialError::CredentialsTaken),
            Opening::Passkey(_) => Fail::Domain(CredentialError::PasskeyTaken),
        };
        let txn = self.begin_write().await?;
        let (email, hash) = match opening {
            Opening::Password { email, hash } => {
                (Some(email.as_str().to_owned()), Some((*hash).to_owned()))
            }
            Opening::Passkey(_) => (None, None),
        };
        let id = user::Entity::insert(user::ActiveModel {
            name: Set(name.to_owned()),
            created_at: Set(now),
            external_subject: Set(None),
            email: Set(email),
            password_hash: Set(hash),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .map_err(taken)?
        .last_insert_id;
        wallet::Entity::insert(wallet::ActiveModel {
            user_id: Set(id),
            balance: Set(0),
            version: Set(0),
        })
        .exec(&txn)
        .await?;
        if let Opening::Passkey(key) = opening {
            passkey::Entity::insert(new_passkey(UserId(id), key, now))
                .exec(&txn)
                .await
                .map_err(taken)?;
        }
        txn.commit().await?;
        Ok(User {
            id: UserId(id),
            name: name.to_owned(),
            created_at: at(now).map_err(store_err)?,
        })
    }
}

fn new_passkey(user: UserId, key: &NewPasskey, now: i64) -> passkey::ActiveModel {
    passkey::ActiveModel {
        key_hash: Set(key.key_hash.clone()),
        user_id: Set(user.0),
        user_handle: Set(key.user_handle.clone()),
        credential: Set(key.credential.clone()),
        created_at: Set(now),
        last_used_at: Set(None),
    }
}

fn to_session(m: session::Model) -> Result<Session, StoreError> {
    Ok(Session {
        id: m.id,
        user: UserId(m.user_id),
        created_at: at(m.created_at).map_err(store_err)?,
        expires_at: at(m.expires_at).map_err(store_err)?,
        agent: m.agent,
    })
}

fn to_passkey(m: passkey::Model) -> Result<StoredPasskey, StoreError> {
    Ok(StoredPasskey {
        key_hash: m.key_hash,
        user: UserId(m.user_id),
        user_handle: m.user_handle,
        credential: m.credential,
        created_at: at(m.created_at).map_err(store_err)?,
        last_used_at: m.last_used_at.map(at).transpose().map_err(store_err)?,
    })
}

#[async_trait]
impl CredentialRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, err)]
    async fn create_with_password(
        &self,
        name: &str,
        email: &Email,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User, CredentialError> {
        let opening = Opening::Password { email, hash };
        retrying!(self.try_open_account(name, &opening, ms(now)).await)
    }

    #[tracing::instrument(skip_all, fields(user = user_id.0), err)]
    async fn attach_password(
        &self,
        user_id: UserId,
        email: &Email,
        hash: &str,
    ) -> Result<(), CredentialError> {
        // One conditional update: only a user without an email gets one.
        let done = user::Entity::update_many()
            .col_expr(user::Column::Email, Expr::value(email.as_str()))
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .filter(user::Column::Id.eq(user_id.0))
            .filter(user::Column::Email.is_null())
            .exec(&self.db)
            .await;
        match done {
            Ok(r) if r.rows_affected == 1 => Ok(()),
            Ok(_) => match user::Entity::find_by_id(user_id.0)
                .one(&self.db)
                .await
                .map_err(store_err)?
            {
                None => Err(CredentialError::UserNotFound),
                Some(_) => Err(CredentialError::AlreadyHasPassword),
            },
            Err(e) if is_unique_violation(&e) => Err(CredentialError::CredentialsTaken),
            Err(e) => Err(store_err(e).into()),
        }
    }

    #[tracing::instrument(skip_all, err)]
    async fn user_with_password(&self, hash: &str) -> Result<Option<User>, StoreError> {
        let found = user::Entity::find()
            .filter(user::Column::PasswordHash.eq(hash))
            .one(&self.db)
            .await
            .map_err(store_err)?;
        found.map(model_to_user).transpose()
    }

    #[tracing::instrument(skip_all, err)]
    async fn older_passwords_of(
        &self,
        email: &Email,
        setting: &str,
        limit: u64,
    ) -> Result<Vec<(User, String)>, StoreError> {
        // A PHC string has no `%`, `_` nor `\`: the setting is a literal prefix.
        let found = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .filter(user::Column::PasswordHash.is_not_null())
            .filter(user::Column::PasswordHash.not_like(format!("{setting}%")))
            .order_by_asc(user::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        found
            .into_iter()
            .filter_map(|u| {
                let hash = u.password_hash.clone()?;
                Some(model_to_user(u).map(|user| (user, hash)))
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(user = user_id.0), err)]
    async fn rehash(&self, user_id: UserId, old: &str, new: &str) -> Result<bool, StoreError> {
        let done = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(new))
            .filter(user::Column::Id.eq(user_id.0))
            .filter(user::Column::PasswordHash.eq(old))
            .exec(&self.db)
            .await;
        match done {
            Ok(r) => Ok(r.rows_affected == 1),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    #[tracing::instrument(skip_all, err)]
    async fn profile(&self, user_id: UserId) -> Result<Option<Profile>, StoreError> {
        let found = user::Entity::find_by_id(user_id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?;
        Ok(found.map(|u| Profile {
            id: UserId(u.id),
            name: u.name,
            email: u.email,
        }))
    }
}

#[async_trait]
impl SessionRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(user = s.user.0), err)]
    async fn create(&self, s: &Session) -> Result<(), StoreError> {
        let now = ms(s.created_at);
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(s.user.0))
            .filter(session::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        session::Entity::insert(session::ActiveModel {
            id: Set(s.id.clone()),
            user_id: Set(s.user.0),
            created_at: Set(now),
            expires_at: Set(ms(s.expires_at)),
            agent: Set(s.agent.clone()),
        })
        .exec(&self.db)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn is_active(
        &self,
        id: &str,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found = session::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(store_err)?;
        Ok(found.is_some_and(|s| s.user_id == user_id.0 && s.expires_at > ms(now)))
    }

    #[tracing::instrument(skip_all, fields(user = user_id.0), err)]
    async fn list(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError> {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user_id.0))
            .filter(session::Column::ExpiresAt.gt(ms(now)))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_session)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(user = user_id.0), err)]
    async fn revoke(&self, user_id: UserId, id: &str) -> Result<bool, StoreError> {
        let r = session::Entity::delete_many()
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::UserId.eq(user_id.0))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        Ok(r.rows_affected == 1)
    }
}

#[async_trait]
impl PasskeyRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, err)]
    async fn save_ceremony(
        &self,
        c: &PasskeyCeremony,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        passkey_ceremony::Entity::delete_many()
            .filter(passkey_ceremony::Column::ExpiresAt.lte(ms(now)))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        passkey_ceremony::Entity::insert(passkey_ceremony::ActiveModel {
            id: Set(c.id.clone()),
            user_id: Set(c.user.map(|u| u.0)),
            name: Set(c.name.clone()),
            state: Set(c.state.clone()),
            expires_at: Set(ms(c.expires_at)),
        })
        .exec(&self.db)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, err)]
    async fn take_ceremony(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremony>, StoreError> {
        let Some(found) = passkey_ceremony::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        // The delete decides: of two finishes of one ceremony, one deletes the row.
        let gone = passkey_ceremony::Entity::delete_many()
            .filter(passkey_ceremony::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        if gone.rows_affected != 1 || found.expires_at <= ms(now) {
            return Ok(None);
        }
        Ok(Some(PasskeyCeremony {
            id: found.id,
            user: found.user_id.map(UserId),
            name: found.name,
            state: found.state,
            expires_at: at(found.expires_at).map_err(store_err)?,
        }))
    }

    #[tracing::instrument(skip_all, err)]
    async fn create_with_passkey(
        &self,
        name: &str,
        key: &NewPasskey,
        now: DateTime<Utc>,
    ) -> Result<User, CredentialError> {
        let opening = Opening::Passkey(key);
        retrying!(self.try_open_account(name, &opening, ms(now)).await)
    }

    #[tracing::instrument(skip_all, fields(user = user_id.0), err)]
    async fn add_passkey(
        &self,
        user_id: UserId,
        key: &NewPasskey,
        now: DateTime<Utc>,
    ) -> Result<(), CredentialError> {
        let exists = user::Entity::find_by_id(user_id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .is_some();
        if !exists {
            return Err(CredentialError::UserNotFound);
        }
        match passkey::Entity::insert(new_passkey(user_id, key, ms(now)))
            .exec(&self.db)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(CredentialError::PasskeyTaken),
            Err(e) => Err(store_err(e).into()),
        }
    }

    async fn passkey(&self, key_hash: &str) -> Result<Option<StoredPasskey>, StoreError> {
        passkey::Entity::find_by_id(key_hash.to_owned())
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_passkey)
            .transpose()
    }

    async fn passkeys_of(&self, user_id: UserId) -> Result<Vec<StoredPasskey>, StoreError> {
        passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id.0))
            .order_by_asc(passkey::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_passkey)
            .collect()
    }

    #[tracing::instrument(skip_all, err)]
    async fn touch_passkey(
        &self,
        key_hash: &str,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        passkey::Entity::update_many()
            .col_expr(passkey::Column::Credential, Expr::value(credential))
            .col_expr(passkey::Column::LastUsedAt, Expr::value(ms(now)))
            .filter(passkey::Column::KeyHash.eq(key_hash))
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        Ok(())
    }
}
