//! Render: the form's Twig XML template, with the PHP module's render context and extension
//! functions, then validation against the form's XSD.
//!
//! Templates are compiled once at start-up (a syntax error stops the service with the file and
//! line, instead of failing the first submission), then rendered on the blocking pool. Existing
//! templates from `os2forms_fordelingskomponent` work unchanged: the `twig` crate implements
//! Twig's semantics (strict variables, PHP printing rules) and the module's four extensions.

use crate::build::FormRenderer;
use crate::config::{Config, DistributionType, RouteConfig, resolve};
use crate::xsd::XsdValidator;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// rustls needs one process-wide crypto provider; every binary entry point calls this.
pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

struct Compiled {
    template: twig::Template,
    xsd: Option<XsdValidator>,
}

pub struct TwigRenderer {
    env: twig::Environment,
    /// By (webform id is not needed: route ids are unique per form) template path.
    templates: HashMap<String, Compiled>,
}

fn key(route: &RouteConfig) -> String {
    route
        .xml_template
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

impl TwigRenderer {
    /// Compiles every FORMULAR route's template and XSD. Errors name the form, route and file.
    pub fn new(config: &Config, base: &Path) -> anyhow::Result<Self> {
        let mut env = twig::Environment::new();
        twig::register_os2forms(&mut env);
        let mut templates = HashMap::new();
        for f in &config.forms {
            for r in f
                .routes
                .iter()
                .filter(|r| r.distribution_type == DistributionType::Formular)
            {
                let Some(t) = &r.xml_template else { continue };
                let path = resolve(base, t);
                let source = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "form {} route {}: xml_template {}: {e}",
                        f.webform_id,
                        r.id,
                        path.display()
                    )
                })?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let template = env
                    .compile(&name, &source)
                    .map_err(|e| anyhow::anyhow!("form {} route {}: {e}", f.webform_id, r.id))?;
                let xsd = match &r.xsd {
                    Some(x) => Some(XsdValidator::from_file(&resolve(base, x)).map_err(|e| {
                        anyhow::anyhow!("form {} route {}: xsd: {e}", f.webform_id, r.id)
                    })?),
                    None => None,
                };
                templates.insert(key(r), Compiled { template, xsd });
            }
        }
        Ok(Self { env, templates })
    }
}

impl FormRenderer for TwigRenderer {
    fn render(&self, route: &RouteConfig, context: &Value) -> Result<String, String> {
        let c = self
            .templates
            .get(&key(route))
            .ok_or_else(|| format!("route {}: no compiled xml_template", route.id))?;
        let xml = c
            .template
            .render_json(&self.env, context)
            .map_err(|e| format!("xml_template: {e}"))?;
        if let Some(xsd) = &c.xsd {
            xsd.validate(&xml).map_err(|errors| {
                let lines: Vec<String> = errors.iter().take(5).map(|e| e.to_string()).collect();
                format!(
                    "the rendered form XML is not valid for {}: {}",
                    xsd.schema_path().display(),
                    lines.join("; ")
                )
            })?;
        }
        Ok(xml)
    }
}
