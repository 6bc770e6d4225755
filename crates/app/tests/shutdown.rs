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
    // Send the head and half the body: the request is now in flight.
    let body =
        br#"{"name":"in-flight fan","email":"in-flight@example.test","password":"correct horse battery"}"#;
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&body[..8]).expect("half body");
    std::thread::sleep(Duration::from_millis(300));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused once the listener is closed.
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after SIGTERM"
    );

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

    let deadline = Instant::now() + Duration::from_secs(15);
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
