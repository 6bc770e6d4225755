//! The `presale_codes` table: `used <= max_tickets` checked by the database.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "presale_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub schedule_id: i64,
    pub code: String,
    /// Category names, one per line.
    pub categories: String,
    /// Section names, one per line.
    pub sections: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub max_tickets: i64,
    pub used: i64,
    pub user_id: Option<i64>,
    pub cancelled: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
