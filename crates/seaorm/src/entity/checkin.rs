//! The `checkins` table: every scan, unique by nonce; `admits_ticket_id` (unique) is set
//! only on the one admitting check-in of a ticket.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkins")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub nonce: String,
    pub schedule_id: i64,
    pub ticket_id: Option<i64>,
    pub admits_ticket_id: Option<i64>,
    pub gate: String,
    pub device: String,
    pub scanned_at: i64,
    pub received_at: i64,
    pub result: String,
    pub reason: Option<String>,
    pub first_at: Option<i64>,
    pub first_gate: Option<String>,
    pub duplicate: bool,
    pub offline_result: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
