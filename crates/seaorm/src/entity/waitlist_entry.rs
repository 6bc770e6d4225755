//! The `waitlist_entries` table: fans waiting for a schedule's returned places, in the
//! order of their ids.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub schedule_id: i64,
    pub user_id: i64,
    /// The fan while waiting or offered, `None` after: unique with the schedule, so a
    /// fan is on a list at most once.
    pub live_user_id: Option<i64>,
    pub quantity: i32,
    pub fulfilled: i32,
    pub status: String,
    /// How long each offer to this entry holds its place.
    pub offer_ms: i64,
    pub joined_at: i64,
    pub offer_order_id: Option<i64>,
    pub offered_at: Option<i64>,
    pub ended_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
