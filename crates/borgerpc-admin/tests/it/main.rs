//! The crate's integration tests in one binary: one build and one link instead of one per
//! file. Each module is what was a test binary of its own; nextest still runs every test in
//! a process of its own. Modules under `feature = "tools"` run the simulator or the `demo`
//! and `bench` commands, which a production build (`--no-default-features`) leaves out.

mod common;

mod api;
mod audit_customer;
#[cfg(feature = "tools")]
mod backup;
mod bad_input;
#[cfg(feature = "tools")]
mod bench;
mod cli;
mod config;
#[cfg(feature = "tools")]
mod demo;
mod identity;
mod job_rules;
mod legacy_xmlrpc;
mod listener;
mod login;
mod notifications;
mod package;
mod pc_counts;
mod protocol;
mod real_client;
mod report_mail;
mod reports;
mod reports_changes;
mod reports_changes_export;
mod reports_export;
mod reports_inventory;
mod reports_jobs;
mod reports_ops_rollup;
mod reports_rollup;
mod reports_security;
mod reports_usage_rollup;
mod scripts_import;
mod setup;
mod tenant_rls;
mod upgrade;
mod web_admin;
mod web_browser;
mod web_every_page;
mod web_groups;
mod web_help;
mod web_instances;
mod web_inventory;
mod web_monitor;
mod web_pcs;
mod web_refusals;
mod web_reports;
mod web_reports_changes;
mod web_reports_downloads;
mod web_reports_ops;
mod web_scripts;
mod web_security_scripts;
mod web_tenants;
mod write_queue;
