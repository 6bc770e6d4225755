//! The `seats` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "seats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub schedule_id: i64,
    pub row_no: i32,
    pub number: i32,
    pub label: String,
    pub price: i64,
    pub status: String,
    pub version: i64,
    pub held_by: Option<i64>,
    pub held_until: Option<i64>,
    pub section: String,
    pub section_rank: i32,
    /// Empty for seats of rectangular maps made before layouts: read as the row letters.
    pub row_label: String,
    /// Place in the row, gaps counted: neighbours differ by one.
    pub x: i32,
    pub category: String,
    pub accessible: bool,
    /// In a hidden category: sold only with a presale code opening it.
    pub hidden: bool,
    /// The waiting-list offer holding the seat: never claimable by anyone else, even
    /// past the hold's expiry, until the sweeper passes it on.
    pub offer_order_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The row's name: its label, or the row letters of a seat made before layouts.
    pub fn row_name(&self) -> String {
        if self.row_label.is_empty() {
            frontrow_domain::venue::row_letters(u32::try_from(self.row_no).unwrap_or(0))
        } else {
            self.row_label.clone()
        }
    }
}
