//! `UserRepository`: a user and their empty wallet, created together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{User, UserId};
use frontrow_domain::ports::UserRepository;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::convert::{at, ms};
use crate::entity::{user, wallet};
use crate::errors::{Fail, retrying, store_err};
use crate::store::SeaOrmStore;

impl SeaOrmStore {
    async fn try_create_user(&self, name: &str, now: i64) -> Result<i64, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        let id = user::Entity::insert(user::ActiveModel {
            name: Set(name.to_owned()),
            created_at: Set(now),
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
        let id: i64 = retrying!(self.try_create_user(name, now).await)?;
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
}
