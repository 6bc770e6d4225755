//! `reservations.extended_at`: when a hold was extended (a hold is extended at most once;
//! NULL = never).

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000006_create_reservations::Reservations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Extension {
    ExtendedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .add_column(big_integer_null(Extension::ExtendedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .drop_column(Extension::ExtendedAt)
                    .to_owned(),
            )
            .await
    }
}
