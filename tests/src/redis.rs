//! Redis connection and per-test key prefixes.
//!
//! Each test gets its own prefix (a UUID), so tests share one server without seeing each
//! other; `TestRedis::cleanup` (also run on drop) deletes the prefix's keys with
//! `SCAN` + `DEL`, never `FLUSHALL`.

use deadpool_redis::redis;

/// The Redis that `scripts/test.sh` starts; fails the test when it is not set.
pub fn redis_url() -> String {
    crate::required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")
}

/// A key prefix of one test on the test Redis.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> Self {
        TestRedis {
            url: redis_url(),
            prefix: format!("frontrow-test:{}:", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Every key under this test's prefix.
    pub fn keys(&self) -> Vec<String> {
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return Vec::new();
        };
        let pattern = format!("{}*", self.prefix);
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn);
            let Ok((next, mut found)) = page else {
                break;
            };
            keys.append(&mut found);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys
    }

    /// Deletes this test's keys.
    pub fn cleanup(&self) {
        let keys = self.keys();
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        for chunk in keys.chunks(500) {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
        }
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.cleanup();
    }
}
