//! `frontrow verify-draw`: checks a concert's draw on a running service from the
//! outside, with nothing but its public API (see `frontrow_domain::draw`).

use anyhow::{Context, bail};
use frontrow_domain::draw::{Draw, verify};

use crate::http::dto::{DrawReceiptsView, DrawView};

/// Fetches the draw of `concert_id` from `base_url` and checks it. Returns a one-line
/// summary when everything matches.
///
/// # Errors
/// When the service cannot be reached, answers something else than a revealed draw,
/// or the draw does not check out (the error says what differs).
pub async fn verify_draw(base_url: &str, concert_id: i64) -> anyhow::Result<String> {
    let base = base_url.trim_end_matches('/');
    let api = if base.ends_with("/api/v1") {
        base.to_owned()
    } else {
        format!("{base}/api/v1")
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let doc: DrawView = fetch(&client, &format!("{api}/concerts/{concert_id}/draw")).await?;
    let mut receipts = Vec::new();
    loop {
        let url = format!(
            "{api}/concerts/{concert_id}/draw/receipts?offset={}",
            receipts.len()
        );
        let page: DrawReceiptsView = fetch(&client, &url).await?;
        if page.seed != doc.seed.clone().unwrap_or_default() {
            bail!("the receipts list gives another seed than the draw document");
        }
        let got = page.receipts.len();
        receipts.extend(page.receipts);
        if got == 0 || receipts.len() as u64 >= page.total {
            break;
        }
    }
    let draw = Draw {
        commitment: doc.commitment.clone(),
        opens_at: doc.opens_at,
        entrants: doc.entrants,
        seed: doc.seed.clone(),
    };
    verify(&draw, &receipts).context("the draw does not check out")?;
    Ok(format!(
        "draw of concert {concert_id} verified: SHA-256(seed) = commitment {}, {} receipts in the seed's order",
        doc.commitment,
        receipts.len()
    ))
}

async fn fetch<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let res = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = res.status();
    if !status.is_success() {
        let body = res.text().await.unwrap_or_default();
        bail!("{url} answered {status}: {body}");
    }
    res.json()
        .await
        .with_context(|| format!("{url} answered something else than expected"))
}
