//! The `users` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    /// The identity provider's name for this user; `None` for built-in sign-ups.
    pub external_subject: Option<String>,
    /// Lower case; several accounts may share one (each with its own password); `None`
    /// for accounts without a password.
    pub email: Option<String>,
    /// argon2id PHC string salted by the email, unique (an account is found by it);
    /// `None` for accounts without a password.
    pub password_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
