//! Real accounts: `users.email` (unique, lower case) and `users.password_hash` (an
//! argon2id PHC string), both NULL for the accounts made before them — name-only
//! sign-ups and identity-provider users keep their id, wallet and orders, and may attach
//! an email and password later. `sessions`: one row per signed-in device, named by the
//! `sid` of its access tokens, so a session can be listed and revoked at once.
//! `passkeys`: WebAuthn credentials, keyed by the SHA-256 of the credential id (ids run
//! to 1,023 bytes, too long for a MySQL key). `passkey_ceremonies`: the server half of
//! a registration or sign-in under way between its start and finish, used once.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Email,
    PasswordHash,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    Agent,
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    KeyHash,
    UserId,
    UserHandle,
    Credential,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PasskeyCeremonies {
    Table,
    Id,
    UserId,
    Name,
    State,
    ExpiresAt,
}

const EMAIL_INDEX: &str = "ux_users_email";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for col in [
            ColumnDef::new(Account::Email)
                .string_len(254)
                .null()
                .to_owned(),
            ColumnDef::new(Account::PasswordHash)
                .string_len(255)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        // Several NULLs are allowed by a unique index on SQLite, MySQL and PostgreSQL.
        manager
            .create_index(
                Index::create()
                    .name(EMAIL_INDEX)
                    .table(Users::Table)
                    .col(Account::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(string_len(Sessions::Id, 32).primary_key())
                    .col(big_integer(Sessions::UserId))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .col(string_len(Sessions::Agent, 200))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .if_not_exists()
                    .col(string_len(Passkeys::KeyHash, 64).primary_key())
                    .col(big_integer(Passkeys::UserId))
                    .col(string_len(Passkeys::UserHandle, 36))
                    .col(text(Passkeys::Credential))
                    .col(big_integer(Passkeys::CreatedAt))
                    .col(big_integer_null(Passkeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkeys_user")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasskeyCeremonies::Table)
                    .if_not_exists()
                    .col(string_len(PasskeyCeremonies::Id, 32).primary_key())
                    .col(big_integer_null(PasskeyCeremonies::UserId))
                    .col(string_len_null(PasskeyCeremonies::Name, 200))
                    .col(text(PasskeyCeremonies::State))
                    .col(big_integer(PasskeyCeremonies::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PasskeyCeremonies::Table.into_iden(),
            Passkeys::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name(EMAIL_INDEX)
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for col in [Account::PasswordHash, Account::Email] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
