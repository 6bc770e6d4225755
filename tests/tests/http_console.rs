//! The web pages and the operators' read endpoints over HTTP: the fans' page, the
//! console and their assets are served from the binary with their types, a content
//! security policy and ETags; the sales summary and the CSV export follow the sales.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use frontrow_tests::app::{ADMIN_KEY, TestApp, TestUser, assert_problem, spawn_app};
use serde_json::{Value, json};

async fn get_admin(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(app.url(path));
    if let Some(k) = key {
        r = r.header("X-Admin-Key", k);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn pages_and_their_assets_are_served_from_the_binary() {
    let app = spawn_app().await;
    for (path, ty, needle) in [
        ("/", "text/html", "/static/app.js"),
        ("/admin", "text/html", "/static/admin.js"),
        ("/static/app.js", "text/javascript", "localStorage"),
        ("/static/admin.js", "text/javascript", "sessionStorage"),
        ("/static/api.js", "text/javascript", "Retry-After"),
        ("/static/charts.js", "text/javascript", "svg"),
        ("/static/style.css", "text/css", ".seat"),
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        let ct = h["content-type"].to_str().unwrap();
        assert!(ct.starts_with(ty), "{path}: {ct}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let body = res.text().await.unwrap();
        assert!(body.contains(needle), "{path} lacks {needle}");
    }

    // Revalidation: the same ETag answers 304 with no body.
    let res = app.get("/static/app.js", None).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let res = app
        .client
        .get(app.url("/static/app.js"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert!(res.text().await.unwrap().is_empty());

    // Unknown files are a problem document, never a file from elsewhere.
    for path in [
        "/static/nope.js",
        "/static/..%2FCargo.toml",
        "/static/%2F",
        "/static/vendor/nope.mjs",
        "/static/vendor/..%2F..%2FCargo.toml",
        "/static/vendor/",
    ] {
        assert_problem(app.get(path, None).await, 404).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_sales_summary_and_export_follow_holds_and_payments() {
    let app = spawn_app().await;
    let c = app.create_concert(1, 4, 4200).await;
    let fan = app.create_user("Ada").await;
    let q = app.admitted(&fan, c.id, Duration::from_secs(10)).await;
    let held: Value = app
        .hold(&fan, Some(&q), c.schedule_id, c.seats[0].0)
        .await
        .json()
        .await
        .unwrap();
    let second = app.hold(&fan, Some(&q), c.schedule_id, c.seats[1].0).await;
    assert_eq!(second.status(), 201);
    assert_eq!(app.charge(&fan, 10_000).await.status(), 200);
    let res = app
        .pay(&fan, Some(&q), held["id"].as_i64().unwrap(), Some("k-1"))
        .await;
    assert_eq!(res.status(), 200);

    let res = get_admin(
        &app,
        &format!("/api/v1/admin/concerts/{}/sales", c.id),
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        (
            &s["total"],
            &s["available"],
            &s["held"],
            &s["sold"],
            &s["revenue"]
        ),
        (&json!(4), &json!(2), &json!(1), &json!(1), &json!(4200)),
        "{s}"
    );
    assert_eq!(s["schedules"][0]["schedule_id"], json!(c.schedule_id));
    assert_eq!(s["schedules"][0]["sold"], json!(1));

    let res = get_admin(
        &app,
        &format!("/api/v1/admin/concerts/{}/sales.csv", c.id),
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("frontrow-sales-concert-{}.csv", c.id))
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[0],
        "reservation_id,schedule_id,starts_at,seat_id,seat,user_id,price,paid_at,order_id,\
         standing_area"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    let f: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(f[0], held["id"].as_i64().unwrap().to_string());
    assert_eq!(f[1], c.schedule_id.to_string());
    assert!(f[2].starts_with("2030-01-01T20:00:00"), "{}", f[2]);
    assert_eq!(f[3], c.seats[0].0.to_string());
    assert_eq!(f[4], held["seat_label"].as_str().unwrap());
    assert_eq!(f[5], fan.id.to_string());
    assert_eq!(f[6], "4200");

    // Operators only; unknown concerts and bad ids are problems.
    for path in [
        format!("/api/v1/admin/concerts/{}/sales", c.id),
        format!("/api/v1/admin/concerts/{}/sales.csv", c.id),
    ] {
        assert_problem(get_admin(&app, &path, None).await, 401).await;
        assert_problem(
            get_admin(&app, &path, Some("wrong-key-wrong-key")).await,
            403,
        )
        .await;
    }
    for path in [
        "/api/v1/admin/concerts/999999/sales",
        "/api/v1/admin/concerts/999999/sales.csv",
        "/api/v1/admin/concerts/abc/sales",
    ] {
        assert_problem(get_admin(&app, path, Some(ADMIN_KEY)).await, 404).await;
    }
    app.stop().await;
}

/// One order of `fan` (admitted with queue token `q`), paid when `pay` is set.
async fn order(app: &TestApp, fan: &TestUser, q: &str, body: Value, pay: bool) {
    let order = app.place_order(fan, q, &body).await;
    if pay {
        app.pay_order(fan, q, &order).await;
    }
}

#[tokio::test]
async fn the_sales_summary_counts_per_category_section_and_standing_area() {
    let app = spawn_app().await;
    let res = app
        .create_concert_raw(&json!({
            "title": "Hall", "venue": "Hall",
            "schedules": [{ "starts_at": "2030-01-01T20:00:00Z", "layout": {
                "categories": [
                    { "name": "Front", "price": 200 },
                    { "name": "Back", "price": 100 },
                    { "name": "Floor", "price": 50 }
                ],
                "sections": [
                    { "name": "Lower", "category": "Front", "rows": [{ "label": "L", "seats": [1, 2, 3, 4] }] },
                    { "name": "Upper", "category": "Back", "rows": [{ "label": "U", "seats": [1, 2, 3, 4] }] },
                    { "name": "Pit", "category": "Floor", "capacity": 10 }
                ]
            } }]
        }))
        .await;
    assert_eq!(res.status(), 201);
    let concert: Value = res.json().await.unwrap();
    let (id, schedule) = (
        concert["id"].as_i64().unwrap(),
        concert["schedules"][0]["id"].as_i64().unwrap(),
    );
    let ada = app.create_user("Ada").await;
    let bo = app.create_user("Bo").await;
    assert_eq!(app.charge(&ada, 10_000).await.status(), 200);
    let qa = app.admitted(&ada, id, Duration::from_secs(10)).await;
    let qb = app.admitted(&bo, id, Duration::from_secs(10)).await;
    // Ada pays two front seats and three standing places; Bo holds one back seat.
    order(
        &app,
        &ada,
        &qa,
        json!({ "schedule_id": schedule, "best_available": { "count": 2, "category": "Front" },
                "standing": [{ "area": "Pit", "quantity": 3 }] }),
        true,
    )
    .await;
    order(
        &app,
        &bo,
        &qb,
        json!({ "schedule_id": schedule, "best_available": { "count": 1, "category": "Back" } }),
        false,
    )
    .await;

    let s: Value = get_admin(
        &app,
        &format!("/api/v1/admin/concerts/{id}/sales"),
        Some(ADMIN_KEY),
    )
    .await
    .json()
    .await
    .unwrap();
    let counts = |v: &Value| {
        ["total", "available", "held", "sold", "revenue"].map(|k| v[k].as_i64().unwrap())
    };
    // 8 seats and 10 standing places; 2 seats and 3 places sold, 1 seat held.
    assert_eq!(counts(&s), [18, 12, 1, 5, 550], "{s}");
    let d = &s["schedules"][0];
    assert_eq!(counts(d), [18, 12, 1, 5, 550], "{d}");
    let named = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|g| (g["name"].as_str().unwrap().to_owned(), counts(g)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        named(&d["categories"]),
        [
            ("Back".to_owned(), [4, 3, 1, 0, 0]),
            ("Front".to_owned(), [4, 2, 0, 2, 400])
        ]
    );
    assert_eq!(
        named(&d["sections"]),
        [
            ("Lower".to_owned(), [4, 2, 0, 2, 400]),
            ("Upper".to_owned(), [4, 3, 1, 0, 0])
        ]
    );
    let pit = &d["standing"][0];
    assert_eq!(
        (&pit["area"], &pit["category"], &pit["price"]),
        (&json!("Pit"), &json!("Floor"), &json!(50))
    );
    assert_eq!(counts(pit), [10, 7, 0, 3, 150], "{pit}");

    // The export: a line per sold seat and per standing place, in one order.
    let export = || async {
        let res = get_admin(
            &app,
            &format!("/api/v1/admin/concerts/{id}/sales.csv"),
            Some(ADMIN_KEY),
        )
        .await;
        assert_eq!(res.status(), 200);
        let csv = res.text().await.unwrap();
        csv.trim_end()
            .split("\r\n")
            .skip(1)
            .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let lines = export().await;
    assert_eq!(lines.len(), 5, "{lines:?}");
    let (seats, standing): (Vec<_>, Vec<_>) = lines.iter().partition(|f| f[9].is_empty());
    assert_eq!((seats.len(), standing.len()), (2, 3));
    let order_id = &lines[0][8];
    assert!(!order_id.is_empty());
    for f in &lines {
        assert_eq!(
            (&f[1], &f[5], &f[8]),
            (&schedule.to_string(), &ada.id.to_string(), order_id)
        );
    }
    for f in &seats {
        assert!(
            !f[0].is_empty() && !f[3].is_empty() && f[4].starts_with('L'),
            "{f:?}"
        );
        assert_eq!(f[6], "200");
    }
    for f in &standing {
        assert_eq!((f[0].as_str(), f[3].as_str(), f[4].as_str()), ("", "", ""));
        assert_eq!((f[6].as_str(), f[9].as_str()), ("50", "Pit"));
    }
    let sum: i64 = lines.iter().map(|f| f[6].parse::<i64>().unwrap()).sum();
    assert_eq!(sum, 550, "the export adds up to the summary's revenue");

    // A returned standing place is no longer sold.
    let tickets: Value = app
        .get("/api/v1/tickets", Some(&ada.token))
        .await
        .json()
        .await
        .unwrap();
    let place = tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["seat_id"].is_null())
        .expect("a standing ticket");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{}/return", place["id"])))
        .bearer_auth(&ada.token)
        .header("Idempotency-Key", "return-one-place")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let lines = export().await;
    assert_eq!(
        lines.iter().filter(|f| f[9] == "Pit").count(),
        2,
        "{lines:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_policy_change_from_a_stale_read_is_refused_with_412() {
    let app = spawn_app().await;
    let concert = app.create_concert(2, 2, 100).await;
    let path = format!("/api/v1/admin/concerts/{}/queue-policy", concert.id);
    let res = get_admin(&app, &path, Some(ADMIN_KEY)).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let policy: Value = res.json().await.unwrap();
    let put = |body: Value, if_match: Option<String>| {
        let mut r = app
            .client
            .put(app.url(&path))
            .header("X-Admin-Key", ADMIN_KEY)
            .json(&body);
        if let Some(m) = if_match {
            r = r.header("If-Match", m);
        }
        r.send()
    };
    // Operator A saves with the ETag she read: accepted, a new ETag.
    let mut a = policy.clone();
    a["max_active"] = json!(77);
    let res = put(a, Some(etag.clone())).await.unwrap();
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    // Operator B read before A saved: refused, A's change stays.
    let mut b = policy.clone();
    b["max_active"] = json!(5);
    let p = assert_problem(put(b.clone(), Some(etag)).await.unwrap(), 412).await;
    assert_eq!(p["type"], "/problems/policy-changed");
    let now: Value = get_admin(&app, &path, Some(ADMIN_KEY))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["max_active"], 77);
    // With the current ETag (or none, for API clients) the change goes through.
    assert_eq!(put(b, Some(new_etag)).await.unwrap().status(), 200);
}
