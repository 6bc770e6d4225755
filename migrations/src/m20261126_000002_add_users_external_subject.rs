//! `users.external_subject`: the identity provider's name for a user (issuer and `sub`),
//! unique; NULL for users of the built-in sign-up.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    ExternalSubject,
}

const INDEX: &str = "ux_users_external_subject";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::ExternalSubject)
                            .string_len(255)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Several NULLs are allowed by a unique index on SQLite, MySQL and PostgreSQL.
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Users::Table)
                    .col(Users::ExternalSubject)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Users::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::ExternalSubject)
                    .to_owned(),
            )
            .await
    }
}
