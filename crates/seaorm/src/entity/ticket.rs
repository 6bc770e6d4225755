//! The `tickets` table: one row per seat or standing place of a paid order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub schedule_id: i64,
    pub seat_id: Option<i64>,
    pub area_id: Option<i64>,
    pub label: String,
    pub category: String,
    pub issued_at: i64,
    pub generation: i64,
    /// The holder's P-256 key, compressed SEC1 in hex.
    pub holder_key: Option<String>,
    pub admitted_at: Option<i64>,
    pub admitted_gate: Option<String>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
