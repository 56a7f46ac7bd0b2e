//! The workflows most rows share: a two-step saga on `web_http` with the
//! faulty steps spliced in, and batches of jobs made of workflows.

use std::sync::Arc;

use maestro::workflow::Workflow;
use serde_json::json;

use super::Job;
use crate::support::ServiceProcess;

/// A saga on `web_http`: create an account, then a CRM contact (undone by
/// account, since a create whose outcome is unknown gives no contact id),
/// then `steps`. Each field is YAML spliced in at its indentation.
pub struct Saga<'a> {
    pub name: &'a str,
    /// Top-level lines, e.g. `timeout: 1s`.
    pub top: &'a str,
    /// The `crm` service's fields after `type: http`.
    pub crm: &'a str,
    /// Extra fields of the `crm_entry` step, e.g. its own `retry`.
    pub crm_step: &'a str,
    pub services: &'a str,
    pub steps: &'a str,
}

impl Default for Saga<'_> {
    fn default() -> Self {
        Self {
            name: "saga",
            top: "",
            crm: r#"endpoint: "${MAESTRO_WEB_HTTP}"
    retry: {attempts: 3, initial_interval: 20ms}"#,
            crm_step: "",
            services: "",
            steps: "",
        }
    }
}

impl Saga<'_> {
    pub fn load(&self, processes: &[&ServiceProcess]) -> Arc<Workflow> {
        let yaml = format!(
            r#"
name: {name}
{top}
services:
  accounts:
    type: http
    endpoint: "${{MAESTRO_WEB_HTTP}}"
    retry: {{attempts: 3, initial_interval: 20ms}}
  crm:
    type: http
    {crm}
{services}
steps:
  - id: create_account
    service: accounts
    method: "POST /accounts"
    input: {{email: "ada@example.com", name: Ada}}
    output: account
    compensate:
      method: "DELETE /accounts/{{{{ .account.account_id }}}}"
  - id: crm_entry
    service: crm
    method: "POST /crm/contacts"
    input: {{account_id: "{{{{ .account.account_id }}}}", email: "ada@example.com"}}
    output: contact
    compensate:
      method: "DELETE /crm/contacts"
      input: {{account_id: "{{{{ .account.account_id }}}}"}}
    {crm_step}
{steps}
"#,
            name = self.name,
            top = self.top,
            crm = self.crm,
            crm_step = self.crm_step,
            services = self.services,
            steps = self.steps,
        );
        crate::runtime::load(&yaml, processes)
    }
}

/// `n` runs of `workflow` with an empty input.
pub fn jobs(workflow: &Arc<Workflow>, n: usize) -> Vec<Job> {
    (0..n).map(|_| (workflow.clone(), json!({}))).collect()
}

/// `n` runs alternating between `workflows`.
pub fn mixed(workflows: &[&Arc<Workflow>], n: usize) -> Vec<Job> {
    (0..n)
        .map(|i| ((*workflows[i % workflows.len()]).clone(), json!({})))
        .collect()
}
