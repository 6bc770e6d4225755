//! The `schedule_cancellations` table: one row per cancelled schedule (the first
//! cancel's).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "schedule_cancellations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub schedule_id: i64,
    pub concert_id: i64,
    pub cancelled_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
