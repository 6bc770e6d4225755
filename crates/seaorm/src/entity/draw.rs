//! The `draws` table: revealed draws, one row per concert and commitment.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "draws")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub concert_id: i64,
    pub commitment: String,
    pub seed: String,
    pub opens_at: i64,
    pub entrants: i64,
    pub drawn_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
