//! The `orders` table: a party's seats and standing places, held and paid together.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub concert_id: i64,
    pub schedule_id: i64,
    pub status: String,
    pub total: i64,
    pub together: bool,
    pub lone_seats_left: i32,
    pub created_at: i64,
    pub expires_at: i64,
    pub admitted_until: i64,
    pub extended_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub version: i64,
    pub presale_code_id: Option<i64>,
    /// The waiting-list entry this order is an offer to.
    pub waitlist_entry_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
