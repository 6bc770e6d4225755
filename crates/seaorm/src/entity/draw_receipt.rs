//! The `draw_receipts` table: a draw's receipts in drawn order, 32 bytes each, a page of
//! them to a row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "draw_receipts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub draw_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub page: i32,
    pub receipts: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
