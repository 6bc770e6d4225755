//! The `reservations` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reservations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub concert_id: i64,
    pub schedule_id: i64,
    pub seat_id: i64,
    pub price: i64,
    pub status: String,
    pub version: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    /// When the hold was extended (at most once).
    pub extended_at: Option<i64>,
    /// The order this seat belongs to (`None`: a one-seat hold).
    pub order_id: Option<i64>,
    /// The seat while held or confirmed, `None` otherwise: its unique index makes a
    /// second live reservation of a seat impossible.
    pub live_seat_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
