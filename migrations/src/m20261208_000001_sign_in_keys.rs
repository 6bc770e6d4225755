//! Accounts found by their email *and* password, so sign-up never tells whether an
//! address is known: `users.email` loses its unique index (several accounts may share an
//! address, each with its own password) and `users.password_hash` gains one. New
//! password hashes are salted by the email (argon2id with a salt derived from the
//! address), so the same email and password always hash alike and the hash itself is the
//! key an account is found by; two accounts can never share an email *and* a password.
//! Hashes made before (a random salt each) keep verifying and are replaced by the keyed
//! form at their owner's next sign-in. An older instance still serving meanwhile keeps
//! working (it reads email and hash as before; only its "email taken" answer no longer
//! comes). Down restores the unique email, which fails once two accounts share one.

use sea_orm_migration::prelude::*;

use super::m20250101_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Email,
    PasswordHash,
}

/// The unique index of the previous migration.
const EMAIL_UNIQUE: &str = "ux_users_email";
const EMAIL_INDEX: &str = "ix_users_email";
const HASH_UNIQUE: &str = "ux_users_password_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The hash first: a failure here leaves email still unique (no half state).
        manager
            .create_index(
                Index::create()
                    .name(HASH_UNIQUE)
                    .table(Users::Table)
                    .col(Account::PasswordHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(EMAIL_INDEX)
                    .table(Users::Table)
                    .col(Account::Email)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(EMAIL_UNIQUE)
                    .table(Users::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Fails (and changes nothing on PostgreSQL; MySQL has no transactional DDL) once
        // two accounts share an address: one email per account cannot come back then.
        manager
            .create_index(
                Index::create()
                    .name(EMAIL_UNIQUE)
                    .table(Users::Table)
                    .col(Account::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for name in [EMAIL_INDEX, HASH_UNIQUE] {
            manager
                .drop_index(Index::drop().name(name).table(Users::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
