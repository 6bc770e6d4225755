//! Redis connection and per-test key prefixes.
