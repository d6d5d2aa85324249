//! A simulated OS2borgerPC agent: what client 3.2.0 sends in one check-in, over real HTTP, so
//! the demo (and load tests) can drive hundreds of PCs through the real client-api without
//! hundreds of machines. It does not run scripts: a job "runs" by producing a log line.
//!
//! The sequence follows the real client (`borgerpc-client-api.md` §3.3): push_config_keys,
//! get_instructions, confirm_jobs_receipt, fetch FILE parameters, send_status_info, and
//! push_security_events when its security scripts "found" something.

use crate::store::jobs::JobStatus;
use anyhow::Context as _;
use serde_json::{Value, json};

/// One simulated PC.
#[derive(Debug, Clone)]
pub struct SimAgent {
    pub mac: String,
    pub name: String,
    pub site_uid: String,
    pub key: String,
    /// Set by [`SimAgent::register`].
    pub uid: Option<String>,
}

/// What a check-in did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckIn {
    pub requests: u32,
    pub jobs_done: u32,
    pub jobs_failed: u32,
    pub files_fetched: u32,
    pub events_sent: u32,
}

impl std::ops::AddAssign for CheckIn {
    fn add_assign(&mut self, o: Self) {
        self.requests += o.requests;
        self.jobs_done += o.jobs_done;
        self.jobs_failed += o.jobs_failed;
        self.files_fetched += o.files_fetched;
        self.events_sent += o.events_sent;
    }
}

/// How this PC behaves in a check-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Its jobs fail (exit status 1).
    pub fail_jobs: bool,
    /// Its security scripts report an event.
    pub raise_event: bool,
}

/// A client-api call; a non-2xx answer is an error carrying the portal's message.
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    endpoint: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = client
        .post(format!("{base}/client-api/{endpoint}"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("{endpoint}: no answer"))?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{endpoint}: {status} {text}");
    serde_json::from_str(&text).with_context(|| format!("{endpoint}: not JSON"))
}

impl SimAgent {
    /// PC number `i` of a site; MAC and key derive from `i`, so runs are repeatable.
    pub fn new(i: u32, site_uid: &str) -> Self {
        let b = i.to_be_bytes();
        Self {
            mac: format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3]),
            name: format!("{site_uid}-{i:04}"),
            site_uid: site_uid.to_owned(),
            key: format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15 + 1),
            uid: None,
        }
    }

    pub async fn register(&mut self, client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        let uid = call(
            client,
            base,
            "register_new_computer",
            json!({
                "mac": self.mac, "name": self.name, "site": self.site_uid, "client_key": self.key,
                "configuration": {"admin_url": base, "hostname": self.name, "os2borgerpc_version": "5.0.0",
                                  "pc_model": "OptiPlex 3000", "pc_manufacturer": "Dell Inc.", "os_name": "Ubuntu 22.04.4 LTS"}
            }),
        )
        .await?;
        self.uid = Some(
            uid.as_str()
                .context("register_new_computer: the uid is not a string")?
                .to_owned(),
        );
        Ok(())
    }

    /// One check-in, as client 3.2.0 makes it.
    pub async fn check_in(
        &self,
        client: &reqwest::Client,
        base: &str,
        behaviour: Behaviour,
    ) -> anyhow::Result<CheckIn> {
        let uid = self.uid.as_deref().context("not registered")?;
        let key = &self.key;
        let mut done = CheckIn::default();
        call(
            client,
            base,
            "push_config_keys",
            json!({"pc_uid": uid, "read_only": true, "client_key": key,
                   "config_dict": {"_os2borgerpc.client_version": "3.2.0", "_ip_addresses": "10.0.0.2", "_kernel_version": "6.8.0-49-generic", "job_timeout": 900}}),
        )
        .await?;
        let instructions = call(
            client,
            base,
            "get_instructions",
            json!({"pc_uid": uid, "jobs_received_check": true, "client_key": key}),
        )
        .await?;
        done.requests += 2;
        let jobs = instructions["jobs"].as_array().cloned().unwrap_or_default();
        let ids: Vec<i64> = jobs.iter().filter_map(|j| j["id"].as_i64()).collect();
        call(
            client,
            base,
            "confirm_jobs_receipt",
            json!({"pc_uid": uid, "job_ids": ids, "client_key": key}),
        )
        .await?;
        done.requests += 1;
        let mut results = Vec::with_capacity(jobs.len());
        for job in &jobs {
            for p in job["parameters"].as_array().into_iter().flatten() {
                if p["type"] == "FILE" && p["value"].as_str().is_some_and(|v| !v.is_empty()) {
                    let url = format!("{base}{}", p["value"].as_str().unwrap_or_default());
                    let r = client
                        .get(&url)
                        .send()
                        .await
                        .context("fetching a job's file")?;
                    anyhow::ensure!(r.status().is_success(), "job file {url}: {}", r.status());
                    done.files_fetched += 1;
                    done.requests += 1;
                }
            }
            // The agent reports a job's end in the words `jobs.status` keeps (the client-api
            // protocol and the store share them), so `JobStatus` spells them; the real client 3.2.0
            // reports the same text (`tests/it/real_client.rs`).
            let (status, tail) = if behaviour.fail_jobs {
                (JobStatus::Failed, ">>> Failed with exit status 1")
            } else {
                (JobStatus::Done, ">>> Succeeded")
            };
            if behaviour.fail_jobs {
                done.jobs_failed += 1;
            } else {
                done.jobs_done += 1;
            }
            results.push(json!({
                "id": job["id"].as_i64().unwrap_or_default().to_string(),
                "status": status.as_str(),
                "started": "2026-11-30 10:00:00.000001",
                "finished": "2026-11-30 10:00:01.000002",
                "log_output": format!(">>> Starting process '/var/lib/os2borgerpc/jobs/{}/executable' with arguments []\n(simuleret / simulated)\n{tail} at 2026-11-30 10:00:01\n", job["id"]),
            }));
        }
        // As the real client: once with the results, once more for unsent ones (the same).
        for _ in 0..2 {
            call(
                client,
                base,
                "send_status_info",
                json!({"pc_uid": uid, "job_data": results, "client_key": key}),
            )
            .await?;
            done.requests += 1;
        }
        if behaviour.raise_event {
            let lines: Vec<String> = instructions["security_scripts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    s["name"]
                        .as_str()?
                        .rsplit("_problem")
                        .next()?
                        .parse::<i64>()
                        .ok()
                })
                .map(|problem| {
                    let now = chrono::Local::now().format("%Y%m%d%H%M%S");
                    format!("{now},{problem},sudo brugt i terminalen\n")
                })
                .collect();
            if !lines.is_empty() {
                call(
                    client,
                    base,
                    "push_security_events",
                    json!({"pc_uid": uid, "events_csv": lines, "client_key": key}),
                )
                .await?;
                done.requests += 1;
                done.events_sent += lines.len() as u32;
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn agents_differ_and_keys_are_64_hex() {
        let (a, b) = (super::SimAgent::new(1, "s"), super::SimAgent::new(2, "s"));
        assert_ne!((a.mac.clone(), a.key.clone()), (b.mac, b.key));
        assert!(a.key.len() == 64 && a.key.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.mac, "02:42:00:00:00:01");
    }
}
