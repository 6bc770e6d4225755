//! Graceful shutdown of the real binary: SIGTERM while a request is in flight, and that
//! request is still answered; then the process exits cleanly.

#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn sigterm_lets_the_in_flight_request_finish() {
    let dir = std::env::temp_dir().join(format!("frontrow-stop-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_frontrow"))
        .arg("serve")
        .current_dir(&dir)
        .env("FRONTROW__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env(
            "FRONTROW__DATABASE__URL",
            format!("sqlite://{}?mode=rwc", dir.join("s.db").display()),
        )
        .env_remove("FRONTROW__REDIS__URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start frontrow");
    // Ready: every worker built its app (the listener is bound before they are, and a
    // request that reaches a worker still starting is not what this test is about).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                s.write_all(
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                )
                .ok()?;
                let mut answer = String::new();
                s.read_to_string(&mut answer).ok()?;
                answer.starts_with("HTTP/1.1 200").then_some(())
            });
        if ok.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "server never became healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // Send the head and half the body. `Expect: 100-continue` makes the server say when
    // it has read the head: from then on the request is in flight, known by order, not
    // by waiting long enough.
    let body =
        br#"{"name":"in-flight fan","email":"in-flight@example.test","password":"correct horse battery"}"#;
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .expect("the server reads the head");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream.write_all(&body[..8]).expect("half body");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // New connections are refused once the listener is closed (as soon as the signal is
    // handled: waited for, the bound only catches a server that never closes it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }

    stream.write_all(&body[8..]).expect("rest of body");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "in-flight request not answered: {answer}"
    );
    assert!(answer.contains("in-flight fan"));

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(dir);
}
