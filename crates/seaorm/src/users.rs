//! `UserRepository`: a user and their empty wallet, created together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{User, UserId};
use frontrow_domain::ports::UserRepository;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::convert::{at, ms};
use crate::entity::{user, wallet};
use crate::errors::{
    Fail, MAX_ATTEMPTS, backoff, is_transient, is_unique_violation, retrying, store_err,
};
use crate::store::SeaOrmStore;

impl SeaOrmStore {
    async fn try_create_user(
        &self,
        name: &str,
        now: i64,
        subject: Option<&str>,
    ) -> Result<i64, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        let id = user::Entity::insert(user::ActiveModel {
            name: Set(name.to_owned()),
            created_at: Set(now),
            external_subject: Set(subject.map(str::to_owned)),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        wallet::Entity::insert(wallet::ActiveModel {
            user_id: Set(id),
            balance: Set(0),
            version: Set(0),
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(id)
    }
}

#[async_trait]
impl UserRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, err)]
    async fn create(&self, name: &str, now: DateTime<Utc>) -> Result<User, StoreError> {
        let now = ms(now);
        let id: i64 = retrying!(self.try_create_user(name, now, None).await)?;
        Ok(User {
            id: UserId(id),
            name: name.to_owned(),
            created_at: at(now).map_err(store_err)?,
        })
    }

    #[tracing::instrument(skip_all, fields(user = id.0), err)]
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let found = user::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?;
        found
            .map(|u| {
                Ok(User {
                    id: UserId(u.id),
                    created_at: at(u.created_at).map_err(store_err)?,
                    name: u.name,
                })
            })
            .transpose()
    }

    #[tracing::instrument(skip_all, err)]
    async fn by_external_subject(
        &self,
        subject: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let find = || async {
            user::Entity::find()
                .filter(user::Column::ExternalSubject.eq(subject))
                .one(&self.db)
                .await
                .map_err(store_err)
        };
        if let Some(u) = find().await? {
            return model_to_user(u);
        }
        let now = ms(now);
        let created: Result<Option<i64>, StoreError> = async {
            let mut tries: u32 = 0;
            loop {
                tries += 1;
                match self.try_create_user(name, now, Some(subject)).await {
                    Ok(id) => break Ok(Some(id)),
                    Err(Fail::Domain(e)) => break Err(e),
                    // Another first sight of the same subject won: read its user below.
                    Err(Fail::Db(e)) if is_unique_violation(&e) => break Ok(None),
                    Err(Fail::Db(e)) if tries < MAX_ATTEMPTS && is_transient(&e) => {
                        backoff(tries).await;
                    }
                    Err(Fail::Db(e)) => break Err(store_err(e)),
                }
            }
        }
        .await;
        match created? {
            None => find()
                .await?
                .ok_or_else(|| StoreError::new("user of a unique subject vanished"))
                .and_then(model_to_user),
            Some(id) => Ok(User {
                id: UserId(id),
                name: name.to_owned(),
                created_at: at(now).map_err(store_err)?,
            }),
        }
    }
}

pub(crate) fn model_to_user(u: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(u.id),
        created_at: at(u.created_at).map_err(store_err)?,
        name: u.name,
    })
}
