//! Fresh databases per test (SQLite, MariaDB, PostgreSQL).
