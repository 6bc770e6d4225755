//! The `standing_areas` table: places sold by quantity, `held + sold <= capacity` checked by the database.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "standing_areas")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub schedule_id: i64,
    pub name: String,
    pub section_rank: i32,
    pub category: String,
    pub price: i64,
    pub capacity: i64,
    pub held: i64,
    pub sold: i64,
    pub hidden: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
