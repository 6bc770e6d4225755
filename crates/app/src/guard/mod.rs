//! The guard: who may come in, and how often — rate limits, the operator's identity
//! provider, proof-of-work on entering a line, and the admission passes of admitted
//! fans. It imports nothing from actix-web or `crate::http` (the static checks of
//! `scripts/test.sh` enforce that): the HTTP layer runs it from its middleware and
//! extractors (`http/limits.rs`, `http/auth.rs`) and turns its refusals into problem
//! documents (`http/error.rs`). State shared between instances goes through the small
//! ports of [`stores`].

pub mod admission;
pub mod identity;
pub mod limits;
pub mod pow;
pub mod stores;
