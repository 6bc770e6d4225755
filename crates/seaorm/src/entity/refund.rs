//! The `refunds` table: every credit of a returned ticket or a cancelled show's order,
//! once per unique `refund_key`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `ticket:<id>` or `cancel:<order id>`: unique, so a credit cannot happen twice.
    pub refund_key: String,
    pub user_id: i64,
    pub schedule_id: i64,
    pub order_id: i64,
    pub ticket_id: Option<i64>,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    /// The fan's key of a return (unique per fan).
    pub idempotency_key: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
